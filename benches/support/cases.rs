//! The packets the codec benches measure (`codec.rs` times them, `instructions.rs` counts
//! their instructions): a CONNECT with will and login, PUBLISH at QoS 0/1 with 0 B – 64 KiB
//! of payload, a SUBSCRIBE of four filters, a SUBACK of four codes; encoded once by umqtt.
#![allow(dead_code)] // each bench uses its part

use umqtt::packet::*;
use umqtt::topic::{TopicFilter, TopicName};

pub struct Case {
    pub name: String,
    pub bytes: Vec<u8>,
    /// The application payload, for the copy floor (PUBLISH only).
    pub payload: Option<Vec<u8>>,
}

pub fn encoded(p: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0; p.encoded_len()];
    p.encode(&mut buf).unwrap();
    buf
}

pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let connect = Packet::Connect(Connect {
        protocol: Protocol::V311,
        keep_alive: 60,
        clean_session: false,
        client_id: MqttStr::new("umqtt-bench-client").unwrap(),
        will: Some(Will {
            topic: TopicName::new("devices/bench/status").unwrap(),
            payload: b"offline",
            qos: QoS::AtLeastOnce,
            retain: true,
        }),
        login: Some(Login {
            username: MqttStr::new("bench-user").unwrap(),
            password: Password::new(b"correct-horse-battery"),
        }),
    });
    cases.push(Case {
        name: "connect_will_login".into(),
        bytes: encoded(&connect),
        payload: None,
    });

    let topic = TopicName::new("sensors/room/tmp").unwrap(); // 16 bytes
    for size in [0usize, 64, 1024, 65536] {
        let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
        for (qname, qos) in [
            ("qos0", QosPid::AtMostOnce),
            ("qos1", QosPid::AtLeastOnce(PacketId::new(42).unwrap())),
        ] {
            let p = Packet::Publish(Publish {
                dup: false,
                qos,
                retain: false,
                topic,
                payload: &payload,
            });
            cases.push(Case {
                name: format!("publish_{qname}_{size}B"),
                bytes: encoded(&p),
                payload: Some(payload.clone()),
            });
        }
    }

    let subs = [
        "home/+/temperature",
        "home/kitchen/#",
        "alerts",
        "$SYS/broker/load/#",
    ]
    .map(|f| Subscription {
        filter: TopicFilter::new(f).unwrap(),
        qos: QoS::AtLeastOnce,
    });
    let sub = Packet::Subscribe(Subscribe {
        pid: PacketId::new(7).unwrap(),
        filters: SubscribeFilters::new(&subs).unwrap(),
    });
    cases.push(Case {
        name: "subscribe_4_filters".into(),
        bytes: encoded(&sub),
        payload: None,
    });

    let codes = [
        SubackCode::Success(QoS::AtLeastOnce),
        SubackCode::Success(QoS::AtMostOnce),
        SubackCode::Failure,
        SubackCode::Success(QoS::ExactlyOnce),
    ];
    let suback = Packet::Suback(Suback {
        pid: PacketId::new(7).unwrap(),
        codes: SubackCodes::new(&codes).unwrap(),
    });
    cases.push(Case {
        name: "suback_4_codes".into(),
        bytes: encoded(&suback),
        payload: None,
    });
    cases
}
