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

#[path = "support/cases.rs"]
mod cases;
use cases::cases;

const MAX: usize = 1 << 20;

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
