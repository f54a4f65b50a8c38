//! Byte vectors for every control packet, valid and malformed. Each malformed case is named
//! after the normative statement it breaks (see tests/CONFORMANCE.md).

mod support;

use support::codec::{enc, err, ok};
use umqtt::packet::*;
use umqtt::topic::{TopicError, TopicFilter, TopicName};

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn publish_bytes(first: u8, topic: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut body = vec![0, topic.len() as u8];
    body.extend_from_slice(topic);
    body.extend_from_slice(rest);
    let mut out = vec![first, body.len() as u8];
    out.extend(body);
    out
}

fn connect_bytes(name: &[u8], level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0, name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(&[level, flags, 0, 60]);
    body.extend_from_slice(payload);
    let mut out = vec![0x10, body.len() as u8];
    out.extend(body);
    out
}

// ---------------------------------------------------------------- valid packets, each type

#[test]
fn connect_minimal_decodes() {
    let bytes = connect_bytes(b"MQTT", 4, 0x02, &[0, 0]);
    let Packet::Connect(c) = ok(&bytes) else {
        panic!()
    };
    assert_eq!(c.protocol, Protocol::V311);
    assert_eq!(c.keep_alive, 60);
    assert!(c.clean_session);
    assert_eq!(c.client_id.as_str(), "");
    assert_eq!(c.will, None);
    assert_eq!(c.login, None);
    assert_eq!(enc(&Packet::Connect(c)), bytes);
}

#[test]
fn connect_full_encodes_fields_in_spec_order() {
    // MQTT-3.1.3-1, MQTT-3.1.3-3, MQTT-3.1.2-9, MQTT-3.1.2-19, MQTT-3.1.2-21
    let packet = Packet::Connect(Connect {
        protocol: Protocol::V311,
        keep_alive: 0x0102,
        clean_session: false,
        client_id: MqttStr::new("id").unwrap(),
        will: Some(Will {
            topic: TopicName::new("w/t").unwrap(),
            payload: b"bye",
            qos: QoS::ExactlyOnce,
            retain: true,
        }),
        login: Some(Login {
            username: MqttStr::new("u").unwrap(),
            password: Password::new(b"p\x00w"),
        }),
    });
    let expected: &[u8] = &[
        0x10,
        32,
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        4,
        0b1111_0100,
        0x01,
        0x02, // header
        0,
        2,
        b'i',
        b'd', // client id first
        0,
        3,
        b'w',
        b'/',
        b't', // will topic
        0,
        3,
        b'b',
        b'y',
        b'e', // will message
        0,
        1,
        b'u', // user name
        0,
        3,
        b'p',
        0,
        b'w', // password (binary: NUL allowed)
    ];
    assert_eq!(enc(&packet), expected);
    assert_eq!(ok(expected), packet);
}

#[test]
fn connect_without_will_or_login_has_those_flags_clear() {
    // MQTT-3.1.2-11, MQTT-3.1.2-13, MQTT-3.1.2-15, MQTT-3.1.2-18, MQTT-3.1.2-20
    let packet = Packet::Connect(Connect {
        protocol: Protocol::V311,
        keep_alive: 10,
        clean_session: true,
        client_id: MqttStr::new("c").unwrap(),
        will: None,
        login: None,
    });
    let bytes = enc(&packet);
    assert_eq!(
        bytes[9], 0x02,
        "only clean session set; reserved bit 0 clear (MQTT-3.1.2-3)"
    );
    assert_eq!(bytes.len(), 2 + 10 + 3, "no will or login fields present");
}

#[test]
fn connect_mqtt31_is_accepted() {
    let bytes = connect_bytes(b"MQIsdp", 3, 0x02, &[0, 1, b'x']);
    let Packet::Connect(c) = ok(&bytes) else {
        panic!()
    };
    assert_eq!(c.protocol, Protocol::V31);
    assert_eq!(enc(&Packet::Connect(c)), bytes);
}

#[test]
fn connack_every_return_code() {
    use ConnectReturnCode::*;
    let codes = [
        Accepted,
        UnacceptableProtocolVersion,
        IdentifierRejected,
        ServerUnavailable,
        BadUsernameOrPassword,
        NotAuthorized,
    ];
    for (i, code) in codes.into_iter().enumerate() {
        let bytes = [0x20, 2, 0, i as u8];
        assert_eq!(
            ok(&bytes),
            Packet::Connack(Connack {
                session_present: false,
                code
            })
        );
    }
    let p = ok(&[0x20, 2, 1, 0]);
    assert_eq!(
        p,
        Packet::Connack(Connack {
            session_present: true,
            code: Accepted
        })
    );
    assert_eq!(enc(&p), [0x20, 2, 1, 0]);
}

#[test]
fn publish_qos0_has_no_packet_id() {
    // MQTT-2.3.1-5, MQTT-4.3.1-1, MQTT-3.3.2-1
    let bytes = publish_bytes(0x30, b"a/b", b"hi");
    let expected = Packet::Publish(Publish {
        dup: false,
        qos: QosPid::AtMostOnce,
        retain: false,
        topic: TopicName::new("a/b").unwrap(),
        payload: b"hi",
    });
    assert_eq!(ok(&bytes), expected);
    assert_eq!(enc(&expected), bytes);
}

#[test]
fn publish_qos1_qos2_dup_retain() {
    let bytes = publish_bytes(0x32, b"t", &[0x12, 0x34, 9]);
    let Packet::Publish(p) = ok(&bytes) else {
        panic!()
    };
    assert_eq!(p.qos, QosPid::AtLeastOnce(pid(0x1234)));
    assert_eq!(p.payload, &[9]);

    // MQTT-3.3.1-1: DUP on a re-delivery
    let bytes = publish_bytes(0x3D, b"t", &[0, 7]);
    let Packet::Publish(p) = ok(&bytes) else {
        panic!()
    };
    assert!(p.dup && p.retain);
    assert_eq!(p.qos, QosPid::ExactlyOnce(pid(7)));
    assert_eq!(p.payload, b"");
    assert_eq!(enc(&Packet::Publish(p)), bytes);
}

#[test]
fn publish_payload_is_borrowed_not_copied() {
    let bytes = publish_bytes(0x30, b"t", b"payload");
    let Packet::Publish(p) = ok(&bytes) else {
        panic!()
    };
    assert!(core::ptr::eq(p.payload.as_ptr(), bytes[5..].as_ptr()));
}

#[test]
fn publish_topic_keeps_byte_order_mark() {
    // MQTT-1.5.3-3: EF BB BF is U+FEFF and is not stripped
    let bytes = publish_bytes(0x30, "\u{FEFF}a".as_bytes(), b"");
    let Packet::Publish(p) = ok(&bytes) else {
        panic!()
    };
    assert_eq!(p.topic.as_str(), "\u{FEFF}a");
}

#[test]
fn publish_multi_byte_remaining_length() {
    let payload = vec![0xAB; 300];
    let packet = Packet::Publish(Publish {
        dup: false,
        qos: QosPid::AtMostOnce,
        retain: false,
        topic: TopicName::new("t").unwrap(),
        payload: &payload,
    });
    let bytes = enc(&packet);
    assert_eq!(&bytes[..3], &[0x30, 0xAF, 0x02]); // 303 = 0x2F + 2 * 128
    assert_eq!(ok(&bytes), packet);
}

#[test]
fn acks_carry_the_packet_id() {
    // MQTT-2.3.1-6; PUBREL's flags are 0010 (MQTT-3.6.1-1)
    type MakeAck = fn(PacketId) -> Packet<'static>;
    let cases: [(u8, MakeAck); 5] = [
        (0x40, Packet::Puback),
        (0x50, Packet::Pubrec),
        (0x62, Packet::Pubrel),
        (0x70, Packet::Pubcomp),
        (0xB0, Packet::Unsuback),
    ];
    for (first, make) in cases {
        let bytes = [first, 2, 0xBE, 0xEF];
        assert_eq!(ok(&bytes), make(pid(0xBEEF)));
        assert_eq!(enc(&make(pid(0xBEEF))), bytes);
    }
}

#[test]
fn subscribe_with_several_filters() {
    // MQTT-3.8.1-1 (0x82), MQTT-3.8.3-1, MQTT-3.8.3-4 (000000QQ)
    let subs = [
        Subscription {
            filter: TopicFilter::new("a/+").unwrap(),
            qos: QoS::AtMostOnce,
        },
        Subscription {
            filter: TopicFilter::new("#").unwrap(),
            qos: QoS::ExactlyOnce,
        },
    ];
    let packet = Packet::Subscribe(Subscribe {
        pid: pid(10),
        filters: SubscribeFilters::new(&subs).unwrap(),
    });
    let expected: &[u8] = &[0x82, 12, 0, 10, 0, 3, b'a', b'/', b'+', 0, 0, 1, b'#', 2];
    assert_eq!(enc(&packet), expected);
    let Packet::Subscribe(decoded) = ok(expected) else {
        panic!()
    };
    assert_eq!(decoded.filters.len(), 2);
    assert_eq!(decoded.filters.iter().collect::<Vec<_>>(), subs);
    assert_eq!(Packet::Subscribe(decoded), packet);
}

#[test]
fn suback_codes() {
    let bytes = [0x90, 6, 0, 1, 0, 1, 2, 0x80];
    let Packet::Suback(s) = ok(&bytes) else {
        panic!()
    };
    assert_eq!(s.pid, pid(1));
    let codes: Vec<_> = s.codes.iter().collect();
    assert_eq!(
        codes,
        [
            SubackCode::Success(QoS::AtMostOnce),
            SubackCode::Success(QoS::AtLeastOnce),
            SubackCode::Success(QoS::ExactlyOnce),
            SubackCode::Failure
        ]
    );
    let rebuilt = Packet::Suback(Suback {
        pid: pid(1),
        codes: SubackCodes::new(&codes).unwrap(),
    });
    assert_eq!(enc(&rebuilt), bytes);
}

#[test]
fn unsubscribe_with_several_filters() {
    // MQTT-3.10.1-1 (0xA2), MQTT-3.10.3-1 (packed contiguously)
    let filters = [
        TopicFilter::new("a").unwrap(),
        TopicFilter::new("b/#").unwrap(),
    ];
    let packet = Packet::Unsubscribe(Unsubscribe {
        pid: pid(3),
        filters: UnsubscribeFilters::new(&filters).unwrap(),
    });
    let expected: &[u8] = &[0xA2, 10, 0, 3, 0, 1, b'a', 0, 3, b'b', b'/', b'#'];
    assert_eq!(enc(&packet), expected);
    assert_eq!(ok(expected), packet);
}

#[test]
fn bodiless_packets() {
    // MQTT-3.14.1-1: DISCONNECT is E0 00
    for (bytes, packet) in [
        ([0xC0, 0], Packet::Pingreq),
        ([0xD0, 0], Packet::Pingresp),
        ([0xE0, 0], Packet::Disconnect),
    ] {
        assert_eq!(ok(&bytes), packet);
        assert_eq!(enc(&packet), bytes);
    }
}

#[test]
fn decode_stops_at_the_first_packet() {
    let bytes = [0xC0, 0, 0xD0, 0];
    assert_eq!(
        decode(&bytes),
        Ok(Status::Complete {
            packet: Packet::Pingreq,
            len: 2
        })
    );
}

#[test]
fn partial_reports_what_is_needed() {
    assert_eq!(decode(&[]), Ok(Status::Partial { needed: 1 }));
    assert_eq!(decode(&[0x30]), Ok(Status::Partial { needed: 1 }));
    assert_eq!(decode(&[0x30, 0x80]), Ok(Status::Partial { needed: 1 }));
    // Header complete: 128 body bytes, 0 present.
    assert_eq!(
        decode(&[0x30, 0x80, 0x01]),
        Ok(Status::Partial { needed: 128 })
    );
    // The largest remaining length is known (and reported) before its body arrives.
    assert_eq!(
        decode(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0, 1]),
        Ok(Status::Partial {
            needed: 268_435_455 - 2
        })
    );
}

// ------------------------------------------------------------- malformed: fixed header

#[test]
fn reserved_packet_types_are_rejected() {
    assert_eq!(err(&[0x00, 0]), DecodeError::ReservedPacketType(0));
    assert_eq!(err(&[0xF0, 0]), DecodeError::ReservedPacketType(15));
    // Reported from the first byte alone.
    assert_eq!(err(&[0xF0]), DecodeError::ReservedPacketType(15));
}

#[test]
fn mqtt_2_2_2_2_invalid_flags_are_rejected_for_every_type() {
    // MQTT-2.2.2-1/2, MQTT-3.6.1-1, MQTT-3.8.1-1, MQTT-3.10.1-1
    for ty in [1u8, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14] {
        let required = if matches!(ty, 6 | 8 | 10) { 0b0010 } else { 0 };
        for flags in 0..16u8 {
            if flags == required {
                continue;
            }
            let e = err(&[(ty << 4) | flags]);
            assert!(
                matches!(e, DecodeError::InvalidFlags { flags: f, .. } if f == flags),
                "type {ty} flags {flags:04b}: {e:?}"
            );
        }
    }
}

#[test]
fn remaining_length_of_five_bytes_is_rejected() {
    assert_eq!(
        err(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        DecodeError::MalformedRemainingLength
    );
    assert_eq!(
        err(&[0x30, 0x80, 0x80, 0x80, 0x80]),
        DecodeError::MalformedRemainingLength
    );
}

#[test]
fn remaining_length_disagreeing_with_content() {
    assert_eq!(err(&[0x40, 3, 0, 1, 0]), DecodeError::TrailingBytes);
    assert_eq!(err(&[0x40, 1, 0]), DecodeError::UnexpectedEnd);
    assert_eq!(err(&[0x20, 3, 0, 0, 0]), DecodeError::TrailingBytes);
    assert_eq!(err(&[0x20, 1, 0]), DecodeError::UnexpectedEnd);
    // Topic length beyond the packet.
    assert_eq!(err(&[0x30, 3, 0, 5, b'a']), DecodeError::UnexpectedEnd);
    // QoS 1 PUBLISH too short for its packet id.
    assert_eq!(err(&[0x32, 4, 0, 1, b'a', 0]), DecodeError::UnexpectedEnd);
}

#[test]
fn bodies_on_bodiless_packets_are_rejected() {
    for first in [0xC0, 0xD0, 0xE0] {
        assert_eq!(err(&[first, 1, 0]), DecodeError::TrailingBytes);
    }
}

// ------------------------------------------------------------------- malformed: strings

#[test]
fn mqtt_1_5_3_1_ill_formed_utf8_is_rejected() {
    assert_eq!(
        err(&publish_bytes(0x30, &[0xFF], b"")),
        DecodeError::InvalidUtf8
    );
    // A lone continuation byte, a truncated sequence, an overlong NUL.
    assert_eq!(
        err(&publish_bytes(0x30, &[0x80], b"")),
        DecodeError::InvalidUtf8
    );
    assert_eq!(
        err(&publish_bytes(0x30, &[b'a', 0xE2, 0x82], b"")),
        DecodeError::InvalidUtf8
    );
    assert_eq!(
        err(&publish_bytes(0x30, &[0xC0, 0x80], b"")),
        DecodeError::InvalidUtf8
    );
}

#[test]
fn mqtt_1_5_3_1_utf16_surrogates_are_rejected() {
    // U+D800 and U+DFFF encoded as if they were code points.
    assert_eq!(
        err(&publish_bytes(0x30, &[0xED, 0xA0, 0x80], b"")),
        DecodeError::InvalidUtf8
    );
    assert_eq!(
        err(&publish_bytes(0x30, &[0xED, 0xBF, 0xBF], b"")),
        DecodeError::InvalidUtf8
    );
    let client_id = [0, 3, 0xED, 0xA0, 0x80];
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 2, &client_id)),
        DecodeError::InvalidUtf8
    );
}

#[test]
fn mqtt_1_5_3_2_null_character_is_rejected() {
    assert_eq!(
        err(&publish_bytes(0x30, b"a\0b", b"")),
        DecodeError::NullCharacter
    );
    let client_id = [0, 2, b'a', 0];
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 2, &client_id)),
        DecodeError::NullCharacter
    );
    let username = [0, 1, b'c', 0, 1, 0];
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x82, &username)),
        DecodeError::NullCharacter
    );
    // And refused when building one to encode (MQTT-4.7.3-2).
    assert_eq!(MqttStr::new("a\0"), Err(StrError::NullCharacter));
    assert_eq!(TopicName::new("a\0"), Err(TopicError::NullCharacter));
    assert_eq!(TopicFilter::new("\0"), Err(TopicError::NullCharacter));
}

// ---------------------------------------------------------------------- malformed: PUBLISH

#[test]
fn mqtt_3_3_1_4_publish_qos3_is_rejected() {
    assert_eq!(
        err(&publish_bytes(0x36, b"t", &[0, 1])),
        DecodeError::InvalidQos
    );
}

#[test]
fn mqtt_3_3_1_2_dup_on_qos0_is_rejected() {
    assert_eq!(
        err(&publish_bytes(0x38, b"t", b"")),
        DecodeError::DupWithQos0
    );
    let p = Packet::Publish(Publish {
        dup: true,
        qos: QosPid::AtMostOnce,
        retain: false,
        topic: TopicName::new("t").unwrap(),
        payload: b"",
    });
    assert_eq!(p.encode(&mut [0; 16]), Err(EncodeError::DupWithQos0));
}

#[test]
fn mqtt_2_3_1_1_packet_id_zero_is_rejected() {
    assert_eq!(
        err(&publish_bytes(0x32, b"t", &[0, 0])),
        DecodeError::ZeroPacketId
    );
    assert_eq!(
        err(&publish_bytes(0x34, b"t", &[0, 0])),
        DecodeError::ZeroPacketId
    );
    assert_eq!(err(&[0x40, 2, 0, 0]), DecodeError::ZeroPacketId);
    assert_eq!(err(&[0x62, 2, 0, 0]), DecodeError::ZeroPacketId);
    assert_eq!(
        err(&[0x82, 6, 0, 0, 0, 1, b'a', 0]),
        DecodeError::ZeroPacketId
    );
    assert_eq!(err(&[0xA2, 5, 0, 0, 0, 1, b'a']), DecodeError::ZeroPacketId);
    assert_eq!(PacketId::new(0), None);
}

#[test]
fn mqtt_3_3_2_2_wildcard_in_topic_name_is_rejected() {
    // MQTT-3.3.2-2, MQTT-4.7.1-1
    for topic in [&b"a/+"[..], b"#", b"a/#", b"a+b"] {
        assert_eq!(
            err(&publish_bytes(0x30, topic, b"")),
            DecodeError::Topic(TopicError::WildcardInName)
        );
    }
    assert_eq!(TopicName::new("x/#"), Err(TopicError::WildcardInName));
}

#[test]
fn mqtt_4_7_3_1_empty_topic_name_is_rejected() {
    assert_eq!(
        err(&publish_bytes(0x30, b"", b"x")),
        DecodeError::Topic(TopicError::Empty)
    );
    assert_eq!(TopicName::new(""), Err(TopicError::Empty));
    assert_eq!(TopicFilter::new(""), Err(TopicError::Empty));
}

#[test]
fn mqtt_4_7_3_3_topic_longer_than_65535_bytes_is_refused() {
    let long = "a".repeat(65_536);
    assert_eq!(TopicName::new(&long), Err(TopicError::TooLong));
    assert_eq!(TopicFilter::new(&long), Err(TopicError::TooLong));
    assert_eq!(MqttStr::new(&long), Err(StrError::TooLong));
    assert!(TopicName::new(&long[1..]).is_ok());
}

// ---------------------------------------------------------------------- malformed: CONNECT

#[test]
fn mqtt_3_1_2_1_wrong_protocol_name_is_rejected() {
    assert_eq!(
        err(&connect_bytes(b"MQTX", 4, 2, &[0, 0])),
        DecodeError::InvalidProtocolName
    );
    assert_eq!(
        err(&connect_bytes(b"mqtt", 4, 2, &[0, 0])),
        DecodeError::InvalidProtocolName
    );
}

#[test]
fn mqtt_3_1_2_2_wrong_protocol_level_is_reported() {
    assert_eq!(
        err(&connect_bytes(b"MQTT", 3, 2, &[0, 0])),
        DecodeError::UnsupportedProtocolLevel(3)
    );
    assert_eq!(
        err(&connect_bytes(b"MQIsdp", 4, 2, &[0, 0])),
        DecodeError::UnsupportedProtocolLevel(4)
    );
    assert_eq!(
        err(&connect_bytes(b"MQTT", 5, 2, &[0, 0])),
        DecodeError::UnsupportedProtocolLevel(5)
    );
}

#[test]
fn mqtt_3_1_2_3_connect_reserved_flag_is_rejected() {
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x03, &[0, 0])),
        DecodeError::ConnectReservedFlag
    );
}

#[test]
fn mqtt_3_1_2_13_will_qos_without_will_flag_is_rejected() {
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x0A, &[0, 0])),
        DecodeError::WillFlagsWithoutWill
    );
}

#[test]
fn mqtt_3_1_2_15_will_retain_without_will_flag_is_rejected() {
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x22, &[0, 0])),
        DecodeError::WillFlagsWithoutWill
    );
}

#[test]
fn mqtt_3_1_2_14_will_qos_3_is_rejected() {
    let will = [0, 0, 0, 1, b't', 0, 0];
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x1E, &will)),
        DecodeError::InvalidQos
    );
}

#[test]
fn mqtt_3_1_2_9_will_flag_requires_will_fields() {
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x06, &[0, 0])),
        DecodeError::UnexpectedEnd
    );
    // A will topic with a wildcard is not a topic name.
    let will = [0, 0, 0, 1, b'#', 0, 0];
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x06, &will)),
        DecodeError::Topic(TopicError::WildcardInName)
    );
}

#[test]
fn mqtt_3_1_2_11_no_will_fields_without_will_flag() {
    let extra = [0, 0, 0, 1, b't', 0, 0];
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x02, &extra)),
        DecodeError::TrailingBytes
    );
}

#[test]
fn mqtt_3_1_2_18_to_21_user_name_and_password_presence() {
    // Flag set, field missing (3.1.2-19, 3.1.2-21).
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x82, &[0, 0])),
        DecodeError::UnexpectedEnd
    );
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0xC2, &[0, 0, 0, 1, b'u'])),
        DecodeError::UnexpectedEnd
    );
    // Flag clear, field present (3.1.2-18, 3.1.2-20).
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x02, &[0, 0, 0, 1, b'u'])),
        DecodeError::TrailingBytes
    );
    assert_eq!(
        err(&connect_bytes(
            b"MQTT",
            4,
            0x82,
            &[0, 0, 0, 1, b'u', 0, 1, b'p']
        )),
        DecodeError::TrailingBytes
    );
}

#[test]
fn mqtt_3_1_2_22_password_without_user_name_is_rejected() {
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x42, &[0, 0, 0, 1, b'p'])),
        DecodeError::PasswordWithoutUsername
    );
}

#[test]
fn mqtt_3_1_3_4_client_id_must_be_utf8() {
    let client_id = [0, 1, 0xFE];
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 2, &client_id)),
        DecodeError::InvalidUtf8
    );
}

#[test]
fn mqtt_3_1_3_10_will_topic_must_be_utf8() {
    let will = [0, 0, 0, 1, 0xFF, 0, 0];
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x06, &will)),
        DecodeError::InvalidUtf8
    );
}

#[test]
fn mqtt_3_1_3_11_user_name_must_be_utf8() {
    let login = [0, 0, 0, 1, 0xFF];
    assert_eq!(
        err(&connect_bytes(b"MQTT", 4, 0x82, &login)),
        DecodeError::InvalidUtf8
    );
}

#[test]
fn password_never_shows_in_debug() {
    let login = Login {
        username: MqttStr::new("u").unwrap(),
        password: Password::new(b"hunter2"),
    };
    let text = format!("{login:?}");
    assert!(!text.contains("hunter2") && !text.contains("104"), "{text}");
    assert!(text.contains("redacted"));
}

// ---------------------------------------------------------------------- malformed: CONNACK

#[test]
fn connack_reserved_flags_are_rejected() {
    assert_eq!(
        err(&[0x20, 2, 0x02, 0]),
        DecodeError::InvalidConnackFlags(0x02)
    );
    assert_eq!(
        err(&[0x20, 2, 0x81, 0]),
        DecodeError::InvalidConnackFlags(0x81)
    );
}

#[test]
fn connack_reserved_return_codes_are_rejected() {
    for code in [6u8, 7, 0x80, 0xFF] {
        assert_eq!(
            err(&[0x20, 2, 0, code]),
            DecodeError::InvalidConnectReturnCode(code)
        );
    }
}

// -------------------------------------------------------- malformed: SUBSCRIBE and friends

#[test]
fn mqtt_3_8_3_3_subscribe_without_filters_is_rejected() {
    assert_eq!(err(&[0x82, 2, 0, 1]), DecodeError::EmptyList);
    assert_eq!(SubscribeFilters::new(&[]), Err(EncodeError::EmptyList));
}

#[test]
fn mqtt_3_10_3_2_unsubscribe_without_filters_is_rejected() {
    assert_eq!(err(&[0xA2, 2, 0, 1]), DecodeError::EmptyList);
    assert_eq!(UnsubscribeFilters::new(&[]), Err(EncodeError::EmptyList));
}

#[test]
fn suback_without_codes_is_rejected() {
    assert_eq!(err(&[0x90, 2, 0, 1]), DecodeError::EmptyList);
}

#[test]
fn mqtt_3_8_3_4_requested_qos_reserved_bits_are_rejected() {
    for byte in [3u8, 4, 0x81, 0xFC] {
        assert_eq!(
            err(&[0x82, 6, 0, 1, 0, 1, b'a', byte]),
            DecodeError::InvalidRequestedQos(byte)
        );
    }
}

#[test]
fn mqtt_3_9_3_2_reserved_suback_codes_are_rejected() {
    for code in [3u8, 0x40, 0x81, 0xFF] {
        assert_eq!(
            err(&[0x90, 4, 0, 1, 0, code]),
            DecodeError::InvalidSubackCode(code)
        );
    }
}

#[test]
fn mqtt_4_7_1_2_and_3_misplaced_wildcards_in_filters_are_rejected() {
    for filter in [
        &b"a/#/b"[..],
        b"a#",
        b"#a",
        b"sport/tennis#",
        b"a+",
        b"+a/b",
        b"a/b+",
        b"##",
    ] {
        let mut bytes = vec![
            0x82,
            (2 + 2 + filter.len() + 1) as u8,
            0,
            1,
            0,
            filter.len() as u8,
        ];
        bytes.extend_from_slice(filter);
        bytes.push(0);
        assert_eq!(
            err(&bytes),
            DecodeError::Topic(TopicError::MisplacedWildcard),
            "{filter:?}"
        );
        let mut unsub = vec![
            0xA2,
            (2 + 2 + filter.len()) as u8,
            0,
            1,
            0,
            filter.len() as u8,
        ];
        unsub.extend_from_slice(filter);
        assert_eq!(
            err(&unsub),
            DecodeError::Topic(TopicError::MisplacedWildcard)
        );
    }
}

#[test]
fn empty_filter_in_subscribe_is_rejected() {
    assert_eq!(
        err(&[0x82, 5, 0, 1, 0, 0, 0]),
        DecodeError::Topic(TopicError::Empty)
    );
}

#[test]
fn subscribe_filter_must_be_utf8() {
    // MQTT-3.8.3-1, MQTT-3.10.3-1
    assert_eq!(
        err(&[0x82, 6, 0, 1, 0, 1, 0xFF, 0]),
        DecodeError::InvalidUtf8
    );
    assert_eq!(err(&[0xA2, 5, 0, 1, 0, 1, 0xFF]), DecodeError::InvalidUtf8);
}

// -------------------------------------------------------------------------------- encode

#[test]
fn encode_into_a_small_buffer_is_a_typed_error() {
    let p = Packet::Publish(Publish {
        dup: false,
        qos: QosPid::AtLeastOnce(pid(1)),
        retain: false,
        topic: TopicName::new("topic").unwrap(),
        payload: &[1; 100],
    });
    let needed = p.encoded_len();
    assert_eq!(needed, 2 + 2 + 5 + 2 + 100);
    assert_eq!(
        p.encode(&mut [0; 50]),
        Err(EncodeError::BufferTooSmall { needed })
    );
    assert_eq!(p.encode(&mut vec![0; needed]), Ok(needed));
}

#[test]
fn encode_refuses_an_oversized_will_payload() {
    let payload = vec![0; 70_000];
    let p = Packet::Connect(Connect {
        protocol: Protocol::V311,
        keep_alive: 0,
        clean_session: true,
        client_id: MqttStr::new("c").unwrap(),
        will: Some(Will {
            topic: TopicName::new("t").unwrap(),
            payload: &payload,
            qos: QoS::AtMostOnce,
            retain: false,
        }),
        login: None,
    });
    assert_eq!(
        p.encode(&mut vec![0; 80_000]),
        Err(EncodeError::FieldTooLong)
    );
    assert_eq!(Password::new(&payload), None);
}

#[test]
fn errors_display_a_reason() {
    assert_eq!(DecodeError::InvalidQos.to_string(), "QoS 3 is reserved");
    assert!(
        EncodeError::BufferTooSmall { needed: 9 }
            .to_string()
            .contains('9')
    );
    let _: &dyn std::error::Error = &DecodeError::EmptyList;
}

// ---------------------------------------------------------------- decode_from: direction of flow

#[test]
fn decode_from_refuses_packets_the_sender_never_sends() {
    // Table 2.1 "Direction of flow": a server never sends CONNECT, SUBSCRIBE, UNSUBSCRIBE,
    // PINGREQ or DISCONNECT; a client never sends CONNACK, SUBACK, UNSUBACK or PINGRESP.
    let from_client_only: [&[u8]; 5] = [
        &connect_bytes(b"MQTT", 4, 0x02, &[0, 0]),
        &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00],
        &[0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'],
        &[0xC0, 0x00],
        &[0xE0, 0x00],
    ];
    for bytes in from_client_only {
        let ty = match decode(bytes) {
            Ok(Status::Complete { packet, .. }) => packet.packet_type(),
            other => panic!("{other:?}"),
        };
        assert_eq!(ty.sender(), Some(Sender::Client));
        assert!(matches!(
            decode_from(bytes, Sender::Client),
            Ok(Status::Complete { .. })
        ));
        assert_eq!(
            decode_from(bytes, Sender::Server),
            Err(DecodeError::WrongSender(ty))
        );
        // Refused from the first bytes on: the body is never waited for.
        assert_eq!(
            decode_from(&bytes[..2], Sender::Server),
            Err(DecodeError::WrongSender(ty))
        );
    }
    let from_server_only: [&[u8]; 4] = [
        &[0x20, 0x02, 0x00, 0x00],
        &[0x90, 0x03, 0x00, 0x01, 0x00],
        &[0xB0, 0x02, 0x00, 0x01],
        &[0xD0, 0x00],
    ];
    for bytes in from_server_only {
        assert!(matches!(
            decode_from(bytes, Sender::Server),
            Ok(Status::Complete { .. })
        ));
        assert!(matches!(
            decode_from(bytes, Sender::Client),
            Err(DecodeError::WrongSender(t)) if t.sender() == Some(Sender::Server)
        ));
    }
    // The PUBLISH family goes both ways.
    for bytes in [
        &[0x40u8, 0x02, 0x00, 0x01][..],
        &publish_bytes(0x30, b"a", b"x"),
    ] {
        for sender in [Sender::Client, Sender::Server] {
            assert_eq!(decode_from(bytes, sender), decode(bytes));
        }
    }
}
