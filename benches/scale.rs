//! How costs grow: dispatching a message to callbacks by topic filter as the number of
//! filters grows (10 → 10,000, a mix of exact, `+` and `#` filters), with the trie router
//! `StdClient` uses and with a linear scan of `topic::matches_str` (what it did before);
//! and the client core's cost per QoS 1 message (publish, write, PUBACK, event) as the
//! number of messages in flight grows (1 → 10,000); and one QoS 0 message while the broker
//! leaves 0, 1,000 or 30,000 QoS 2 ids unreleased (must stay flat: issue 21), and a QoS 2
//! message and a stray PUBREL beside them: with an inbound window that large (a scan of the
//! inbound table: grows with the window the application chose), and with the default window
//! full while 0 → 10,000 of our own messages are in flight (flat: the broker's ids are not
//! looked for among ours).
//!
//! `cargo bench --bench scale` (criterion; no broker).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use umqtt::packet::{Packet, PacketId};
use umqtt::topic::router::Router;
use umqtt::topic::{TopicName, matches_str};
use umqtt::{Client, ConnectOptions, Event, QoS};

/// `n` filters: per 6, three exact, one `+` in the middle, one `+` at the end, one `#`.
fn filters(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 6 {
            0..=2 => format!("site/{i}/sensor/temp"),
            3 => format!("site/+/sensor/{i}"),
            4 => format!("site/{i}/sensor/+"),
            _ => format!("site/{i}/#"),
        })
        .collect()
}

fn dispatch(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch");
    // Matched by "site/42/sensor/temp" (when n > 42): the exact filter 42 (42 % 6 = 0), and
    // every `site/+/sensor/temp`-shaped one there is not; so one or two callbacks run.
    let topic = "site/42/sensor/temp";
    for n in [10, 100, 1_000, 10_000] {
        let fs = filters(n);
        let mut router = Router::new();
        for (i, f) in fs.iter().enumerate() {
            router.insert(f, i);
        }
        g.bench_with_input(BenchmarkId::new("trie", n), &n, |b, _| {
            b.iter(|| router.for_each_match(black_box(topic), |v| *black_box(v) += 0))
        });
        g.bench_with_input(BenchmarkId::new("linear", n), &n, |b, _| {
            b.iter(|| {
                fs.iter()
                    .filter(|f| matches_str(f, black_box(topic)))
                    .count()
            })
        });
    }
    g.finish();
}

/// A client with `options` (64 KiB tx, 1 MiB store), connected (CONNECT written, CONNACK
/// read).
fn connected(options: ConnectOptions<'_>) -> Client<Vec<u8>> {
    let mut c = Client::new(options, vec![0; 4096], vec![0; 1 << 16], vec![0; 1 << 20]).unwrap();
    c.connect(0).unwrap();
    let n = c.poll_transmit().len();
    c.transmitted(n, 0);
    c.rx_space()[..4].copy_from_slice(&[0x20, 2, 0, 0]);
    c.received(4);
    assert!(matches!(c.poll(0).unwrap(), Some(Event::Connected { .. })));
    c
}

/// A connected client with `window` QoS 1 messages in flight (written, unacknowledged).
fn in_flight(window: u16) -> (Client<Vec<u8>>, u64) {
    let mut c = connected(ConnectOptions::new("scale").unwrap().max_inflight(window));
    let topic = TopicName::new("scale/t").unwrap();
    for _ in 0..window {
        c.publish(topic, &[7; 64], QoS::AtLeastOnce, false).unwrap();
        let n = c.poll_transmit().len();
        c.transmitted(n, 0);
    }
    assert_eq!(c.inflight(), usize::from(window));
    assert!(c.poll_transmit().is_empty(), "all written");
    (c, 1)
}

fn window(c: &mut Criterion) {
    let mut g = c.benchmark_group("qos1_message_at_window");
    let topic = TopicName::new("scale/t").unwrap();
    for window in [1u16, 10, 100, 1_000, 10_000] {
        let (mut client, mut oldest) = in_flight(window);
        g.bench_with_input(BenchmarkId::from_parameter(window), &window, |b, _| {
            b.iter(|| {
                // The oldest is acknowledged (found in the store among `window`), a new one
                // takes its place.
                let ack = Packet::Puback(PacketId::new(oldest as u16).unwrap());
                let n = ack.encode(client.rx_space()).unwrap();
                client.received(n);
                let published = client.poll(0).unwrap();
                assert!(matches!(published, Some(Event::Published { .. })));
                let pid = client
                    .publish(topic, &[7; 64], QoS::AtLeastOnce, false)
                    .unwrap();
                black_box(pid);
                let n = client.poll_transmit().len();
                client.transmitted(n, 0);
                oldest = if oldest == 65_535 { 1 } else { oldest + 1 };
            })
        });
    }
    g.finish();
}

/// A connected client with an inbound window of `open` + 1 holding `open` of the broker's QoS 2
/// messages unreleased (PUBREC sent, no PUBREL: what a hostile broker can do), one slot left.
fn unreleased(open: u16) -> Client<Vec<u8>> {
    let options = ConnectOptions::new("scale").unwrap().keep_alive_secs(0);
    let mut c = connected(options.inbound_window(open + 1));
    hold(&mut c, open);
    c
}

/// Has `c` receive and acknowledge the broker's QoS 2 messages 1..=`open` (no PUBREL).
fn hold(c: &mut Client<Vec<u8>>, open: u16) {
    let topic = TopicName::new("in").unwrap();
    for id in 1..=open {
        let p = Packet::Publish(umqtt::Publish {
            dup: false,
            qos: umqtt::packet::QosPid::ExactlyOnce(PacketId::new(id).unwrap()),
            retain: false,
            topic,
            payload: b"x",
        });
        let n = p.encode(c.rx_space()).unwrap();
        c.received(n);
        while c.poll(0).unwrap().is_some() {}
        let n = c.poll_transmit().len();
        c.transmitted(n, 0);
    }
}

/// The cost of one QoS 0 message must not grow with the broker's unreleased QoS 2 ids.
fn hostile(c: &mut Criterion) {
    let mut g = c.benchmark_group("qos0_message_with_unreleased_qos2");
    let topic = TopicName::new("q0").unwrap();
    let message = Packet::Publish(umqtt::Publish {
        dup: false,
        qos: umqtt::packet::QosPid::AtMostOnce,
        retain: false,
        topic,
        payload: &[7; 16],
    });
    for open in [0u16, 1_000, 30_000] {
        let mut client = unreleased(open);
        g.bench_with_input(BenchmarkId::from_parameter(open), &open, |b, _| {
            b.iter(|| {
                let n = message.encode(client.rx_space()).unwrap();
                client.received(n);
                assert!(matches!(client.poll(0).unwrap(), Some(Event::Message(_))));
                black_box(client.poll(0).unwrap().is_none());
            })
        });
    }
    g.finish();
}

/// One QoS 2 message of the broker's (the duplicate check, PUBREC, its PUBREL) and a PUBREL
/// for an id never received, beside `open` unreleased ids in an inbound window that large: a
/// scan of the inbound table, so this curve grows with the window the application set (a
/// broker cannot hold more ids than that: one more is refused).
fn hostile_qos2(c: &mut Criterion) {
    let mut g = c.benchmark_group("qos2_message_and_stray_pubrel_with_unreleased_qos2");
    for open in [0u16, 1_000, 30_000] {
        let mut client = unreleased(open);
        g.bench_with_input(BenchmarkId::from_parameter(open), &open, |b, _| {
            b.iter(|| qos2_and_stray(&mut client))
        });
    }
    g.finish();
}

/// The same with the default inbound window full (19 of its 20 ids held) and `window` of our
/// QoS 1 messages in flight: the broker's ids are not searched for among ours (flat).
fn hostile_qos2_beside_ours(c: &mut Criterion) {
    let mut g = c.benchmark_group("qos2_message_and_stray_pubrel_with_ours_in_flight");
    for window in [1u16, 1_000, 10_000] {
        let (mut client, _) = in_flight(window);
        hold(&mut client, 19);
        g.bench_with_input(BenchmarkId::from_parameter(window), &window, |b, _| {
            b.iter(|| qos2_and_stray(&mut client))
        });
    }
    g.finish();
}

/// One QoS 2 message of the broker's, its PUBREL, and a PUBREL for an id never received.
fn qos2_and_stray(client: &mut Client<Vec<u8>>) {
    let topic = TopicName::new("q2").unwrap();
    let id = PacketId::new(40_000).unwrap();
    let message = Packet::Publish(umqtt::Publish {
        dup: false,
        qos: umqtt::packet::QosPid::ExactlyOnce(id),
        retain: false,
        topic,
        payload: &[7; 16],
    });
    let stray = Packet::Pubrel(PacketId::new(50_000).unwrap());
    for p in [&message, &Packet::Pubrel(id), &stray] {
        let n = p.encode(client.rx_space()).unwrap();
        client.received(n);
        while client.poll(0).unwrap().is_some() {}
    }
    let n = client.poll_transmit().len();
    black_box(n);
    client.transmitted(n, 0);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = dispatch, window, hostile, hostile_qos2, hostile_qos2_beside_ours
}
criterion_main!(benches);
