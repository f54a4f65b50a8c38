//! Property tests for the codec: every packet type round-trips, arbitrary bytes never panic,
//! and the result never depends on how the input was chunked.

use proptest::prelude::*;
use umqtt::packet::*;
use umqtt::topic::{TopicFilter, TopicName};

/// An owned packet, from which a borrowed [`Packet`] is built.
#[derive(Debug, Clone)]
enum Owned {
    Connect {
        v31: bool,
        keep_alive: u16,
        clean: bool,
        client_id: String,
        will: Option<(String, Vec<u8>, QoS, bool)>,
        login: Option<(String, Option<Vec<u8>>)>,
    },
    Connack(bool, ConnectReturnCode),
    Publish {
        dup: bool,
        qos: QoS,
        pid: u16,
        retain: bool,
        topic: String,
        payload: Vec<u8>,
    },
    Ack(u8, u16),
    Subscribe(u16, Vec<(String, QoS)>),
    Suback(u16, Vec<SubackCode>),
    Unsubscribe(u16, Vec<String>),
    Bodiless(u8),
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn mqtt_string() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,12}"
}

fn topic_name() -> impl Strategy<Value = String> {
    "[^\u{0}+#]{1,20}"
}

fn topic_filter() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop_oneof![Just("+".to_string()), "[^\u{0}+#/]{0,6}"], 1..5),
        any::<bool>(),
    )
        .prop_map(|(levels, hash)| {
            let mut f = levels.join("/");
            if hash {
                f.push_str(if f.is_empty() { "#" } else { "/#" });
            }
            if f.is_empty() { "#".to_string() } else { f }
        })
}

fn nonzero() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

fn owned() -> impl Strategy<Value = Owned> {
    let code = (0u8..6).prop_map(|c| ConnectReturnCode::from_u8(c).unwrap());
    prop_oneof![
        (
            any::<bool>(),
            any::<u16>(),
            any::<bool>(),
            mqtt_string(),
            prop::option::of((
                topic_name(),
                prop::collection::vec(any::<u8>(), 0..40),
                qos(),
                any::<bool>()
            )),
            prop::option::of((
                mqtt_string(),
                prop::option::of(prop::collection::vec(any::<u8>(), 0..20))
            )),
        )
            .prop_map(
                |(v31, keep_alive, clean, client_id, will, login)| Owned::Connect {
                    v31,
                    keep_alive,
                    clean,
                    client_id,
                    will,
                    login
                }
            ),
        (any::<bool>(), code).prop_map(|(sp, c)| Owned::Connack(sp, c)),
        (
            any::<bool>(),
            qos(),
            nonzero(),
            any::<bool>(),
            topic_name(),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(dup, qos, pid, retain, topic, payload)| Owned::Publish {
                dup: dup && qos != QoS::AtMostOnce,
                qos,
                pid,
                retain,
                topic,
                payload
            }),
        (prop::sample::select(vec![4u8, 5, 6, 7, 11]), nonzero())
            .prop_map(|(t, id)| Owned::Ack(t, id)),
        (
            nonzero(),
            prop::collection::vec((topic_filter(), qos()), 1..6)
        )
            .prop_map(|(id, f)| Owned::Subscribe(id, f)),
        (
            nonzero(),
            prop::collection::vec(
                prop_oneof![
                    qos().prop_map(SubackCode::Success),
                    Just(SubackCode::Failure)
                ],
                1..8
            )
        )
            .prop_map(|(id, c)| Owned::Suback(id, c)),
        (nonzero(), prop::collection::vec(topic_filter(), 1..6))
            .prop_map(|(id, f)| Owned::Unsubscribe(id, f)),
        prop::sample::select(vec![12u8, 13, 14]).prop_map(Owned::Bodiless),
    ]
}

/// Builds the borrowed packet for `o` and hands it to `f`.
fn with_packet<R>(o: &Owned, f: impl FnOnce(Packet<'_>) -> R) -> R {
    let pid = |n: u16| PacketId::new(n).unwrap();
    match o {
        Owned::Connect {
            v31,
            keep_alive,
            clean,
            client_id,
            will,
            login,
        } => f(Packet::Connect(Connect {
            protocol: if *v31 { Protocol::V31 } else { Protocol::V311 },
            keep_alive: *keep_alive,
            clean_session: *clean,
            client_id: MqttStr::new(client_id).unwrap(),
            will: will.as_ref().map(|(t, p, q, r)| Will {
                topic: TopicName::new(t).unwrap(),
                payload: p,
                qos: *q,
                retain: *r,
            }),
            login: login.as_ref().map(|(u, p)| Login {
                username: MqttStr::new(u).unwrap(),
                password: p.as_ref().map(|p| Password::new(p).unwrap()),
            }),
        })),
        Owned::Connack(sp, code) => f(Packet::Connack(Connack {
            session_present: *sp,
            code: *code,
        })),
        Owned::Publish {
            dup,
            qos,
            pid: id,
            retain,
            topic,
            payload,
        } => f(Packet::Publish(Publish {
            dup: *dup,
            qos: match qos {
                QoS::AtMostOnce => QosPid::AtMostOnce,
                QoS::AtLeastOnce => QosPid::AtLeastOnce(pid(*id)),
                QoS::ExactlyOnce => QosPid::ExactlyOnce(pid(*id)),
            },
            retain: *retain,
            topic: TopicName::new(topic).unwrap(),
            payload,
        })),
        Owned::Ack(t, id) => f(match t {
            4 => Packet::Puback(pid(*id)),
            5 => Packet::Pubrec(pid(*id)),
            6 => Packet::Pubrel(pid(*id)),
            7 => Packet::Pubcomp(pid(*id)),
            _ => Packet::Unsuback(pid(*id)),
        }),
        Owned::Subscribe(id, filters) => {
            let subs: Vec<_> = filters
                .iter()
                .map(|(t, q)| Subscription {
                    filter: TopicFilter::new(t).unwrap(),
                    qos: *q,
                })
                .collect();
            f(Packet::Subscribe(Subscribe {
                pid: pid(*id),
                filters: SubscribeFilters::new(&subs).unwrap(),
            }))
        }
        Owned::Suback(id, codes) => f(Packet::Suback(Suback {
            pid: pid(*id),
            codes: SubackCodes::new(codes).unwrap(),
        })),
        Owned::Unsubscribe(id, filters) => {
            let filters: Vec<_> = filters
                .iter()
                .map(|t| TopicFilter::new(t).unwrap())
                .collect();
            f(Packet::Unsubscribe(Unsubscribe {
                pid: pid(*id),
                filters: UnsubscribeFilters::new(&filters).unwrap(),
            }))
        }
        Owned::Bodiless(t) => f(match t {
            12 => Packet::Pingreq,
            13 => Packet::Pingresp,
            _ => Packet::Disconnect,
        }),
    }
}

fn encode_vec(p: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0; p.encoded_len()];
    assert_eq!(p.encode(&mut buf), Ok(buf.len()));
    buf
}

/// Feeds `bytes` to the decoder in the chunks `cuts` describes, growing the input like a
/// receive buffer, and returns the first result that is not partial.
fn decode_chunked<'a>(bytes: &'a [u8], cuts: &[usize]) -> Result<Status<'a>, DecodeError> {
    let mut have = 0;
    let mut cuts = cuts.iter();
    loop {
        let step = cuts.next().copied().unwrap_or(bytes.len());
        have = (have + step.max(1)).min(bytes.len());
        match decode(&bytes[..have]) {
            Ok(Status::Partial { needed }) if have < bytes.len() => {
                assert!(needed >= 1);
            }
            other => return other,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_packet_round_trips(o in owned()) {
        with_packet(&o, |packet| {
            let bytes = encode_vec(&packet);
            prop_assert_eq!(decode(&bytes), Ok(Status::Complete { packet, len: bytes.len() }));
            Ok(())
        })?;
    }

    #[test]
    fn partial_needed_is_exact_once_the_header_is_in(o in owned()) {
        with_packet(&o, |packet| {
            let bytes = encode_vec(&packet);
            // Type byte, then Remaining Length bytes up to the first without bit 7.
            let header_len = 2 + bytes[1..].iter().position(|b| b & 0x80 == 0).unwrap();
            for k in 0..bytes.len() {
                match decode(&bytes[..k]) {
                    Ok(Status::Partial { needed }) => {
                        if k >= header_len {
                            prop_assert_eq!(k + needed, bytes.len());
                        } else {
                            prop_assert!(needed >= 1 && k + needed <= bytes.len());
                        }
                    }
                    other => prop_assert!(false, "prefix {} of {}: {:?}", k, bytes.len(), other),
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn chunked_decoding_equals_one_shot_for_valid_packets(
        o in owned(),
        cuts in prop::collection::vec(1usize..16, 0..64),
        trailing in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        with_packet(&o, |packet| {
            let mut bytes = encode_vec(&packet);
            let len = bytes.len();
            bytes.extend_from_slice(&trailing);
            let chunked = decode_chunked(&bytes, &cuts);
            prop_assert_eq!(chunked, Ok(Status::Complete { packet, len }));
            Ok(())
        })?;
    }

    #[test]
    fn chunked_decoding_equals_one_shot_for_any_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        cuts in prop::collection::vec(1usize..8, 0..64),
    ) {
        let one_shot = decode(&bytes);
        let chunked = decode_chunked(&bytes, &cuts);
        prop_assert_eq!(chunked, one_shot);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(Status::Complete { packet, len }) = decode(&bytes) {
            // Whatever decodes re-encodes to something that decodes to the same packet.
            prop_assert!(len <= bytes.len());
            let again = encode_vec(&packet);
            prop_assert_eq!(decode(&again), Ok(Status::Complete { packet, len: again.len() }));
        }
    }

    #[test]
    fn mutated_packets_never_panic_and_reencode_consistently(
        o in owned(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        with_packet(&o, |packet| {
            let mut bytes = encode_vec(&packet);
            for (i, b) in &flips {
                let i = i.index(bytes.len());
                bytes[i] = *b;
            }
            if let Ok(Status::Complete { packet, .. }) = decode(&bytes) {
                let again = encode_vec(&packet);
                prop_assert_eq!(decode(&again), Ok(Status::Complete { packet, len: again.len() }));
            }
            Ok(())
        })?;
    }

    #[test]
    fn valid_topic_filters_are_accepted_and_names_are_not_filters_with_wildcards(f in topic_filter(), n in topic_name()) {
        prop_assert!(TopicFilter::new(&f).is_ok(), "{:?}", f);
        let name = TopicName::new(&n).unwrap();
        // A name is a filter that matches itself.
        let as_filter = TopicFilter::new(&n).unwrap();
        prop_assert!(as_filter.matches(&name));
        if !n.starts_with('$') {
            prop_assert!(TopicFilter::new("#").unwrap().matches(&name));
        }
    }
}
