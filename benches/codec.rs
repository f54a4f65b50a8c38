//! Codec benchmark: umqtt against the peer codecs `mqttrs` and rumqttc's MQTT 3.1.1 codec
//! (`rumqttc::mqttbytes::v4`), with a plain copy of the payload as the floor.
//!
//! Every implementation decodes the same bytes (encoded once by umqtt); each encodes the
//! packet value its own decoder produced from them. Run with
//! `cargo bench --bench codec`, then `python3 benches/report.py` for the ratio table.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use umqtt::packet::*;
use umqtt::topic::{TopicFilter, TopicName};

const MAX: usize = 1 << 20;

struct Case {
    name: String,
    bytes: Vec<u8>,
    /// The application payload, for the copy floor (PUBLISH only).
    payload: Option<Vec<u8>>,
}

fn encoded(p: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0; p.encoded_len()];
    p.encode(&mut buf).unwrap();
    buf
}

fn cases() -> Vec<Case> {
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

fn bench(c: &mut Criterion) {
    for case in cases() {
        let bytes = &case.bytes;

        let mut g = c.benchmark_group(format!("decode/{}", case.name));
        g.bench_function("umqtt", |b| b.iter(|| decode(black_box(bytes)).unwrap()));
        g.bench_function("mqttrs", |b| {
            b.iter(|| mqttrs::decode_slice(black_box(bytes)).unwrap())
        });
        g.bench_function("rumqttc", |b| {
            b.iter_batched(
                || BytesMut::from(&bytes[..]),
                |mut buf| rumqttc::mqttbytes::v4::Packet::read(&mut buf, MAX).unwrap(),
                BatchSize::SmallInput,
            )
        });
        if let Some(payload) = &case.payload {
            let mut out = vec![0u8; payload.len()];
            g.bench_function("copy", |b| {
                b.iter(|| out.copy_from_slice(black_box(payload)))
            });
        }
        g.finish();

        let mut g = c.benchmark_group(format!("encode/{}", case.name));
        let mut out = vec![0u8; bytes.len() + 16];
        let Ok(Status::Complete { packet, .. }) = decode(bytes) else {
            unreachable!()
        };
        g.bench_function("umqtt", |b| {
            b.iter(|| black_box(&packet).encode(&mut out).unwrap())
        });
        let theirs = mqttrs::decode_slice(bytes).unwrap().unwrap();
        g.bench_function("mqttrs", |b| {
            b.iter(|| mqttrs::encode_slice(black_box(&theirs), &mut out).unwrap())
        });
        let theirs =
            rumqttc::mqttbytes::v4::Packet::read(&mut BytesMut::from(&bytes[..]), MAX).unwrap();
        let mut buf = BytesMut::with_capacity(bytes.len() + 16);
        g.bench_function("rumqttc", |b| {
            b.iter(|| {
                buf.clear();
                black_box(&theirs).write(&mut buf, MAX).unwrap()
            })
        });
        if let Some(payload) = &case.payload {
            let mut out = vec![0u8; payload.len()];
            g.bench_function("copy", |b| {
                b.iter(|| out.copy_from_slice(black_box(payload)))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = codec;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000))
        .sample_size(30);
    targets = bench
}
criterion_main!(codec);
