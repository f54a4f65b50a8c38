//! End-to-end throughput through mosquitto on loopback, counted at a subscriber: umqtt at
//! QoS 0, 1 and 2 (window 32) against rumqttc (inflight 32) and mosquitto's own C client
//! (`mosquitto_pub -l`), all in the same run; plus umqtt's publish→receive round trip.
//!
//! `cargo bench --bench e2e` (needs mosquitto and mosquitto-clients; `E2E_MESSAGES` sets the
//! count, 20,000 by default). Prints msgs/s, ratios and p50/p99 latency.
//!
//! The broker runs with `max_inflight_messages 32` to match the window: mosquitto 2.0.11
//! acknowledges but drops incoming QoS 1/2 messages beyond its limit (default 20) — measured
//! with umqtt and rumqttc alike (5,000 sent at a window of 32 against the default: 3,128 resp.
//! 4,136 delivered).

#[path = "../tests/support/broker.rs"]
#[allow(dead_code)]
mod broker;

#[path = "support/peers.rs"]
mod peers;

use std::time::{Duration, Instant};

use broker::{Broker, Conn, find_program};
use peers::{PAYLOAD, WINDOW, mosquitto_pub_publisher, rumqttc_publisher, umqtt_publisher};
use umqtt::{ConnectOptions, QoS};

/// Subscribes, runs `publish`, and returns the time until the subscriber had all `n`.
fn measure(
    b: &Broker,
    qos: QoS,
    n: usize,
    tag: &str,
    publish: impl FnOnce(String) + Send + 'static,
) -> Duration {
    let topic = format!("e2e/{tag}/{}", qos as u8);
    let (mut sub, _) = Conn::connect(
        b.addr(),
        ConnectOptions::new(&format!("sub-{tag}-{}", qos as u8)).unwrap(),
        4096,
    )
    .unwrap();
    sub.subscribe(&topic, qos).unwrap();
    let start = Instant::now();
    let publisher = std::thread::spawn(move || publish(topic));
    let mut got = 0;
    while got < n {
        if sub.recv(Duration::from_secs(10)).unwrap().is_none() {
            panic!(
                "{tag} QoS {}: only {got} of {n} arrived; subscriber state {:?}, publisher finished: {}",
                qos as u8,
                sub.d.client().state(),
                publisher.is_finished()
            );
        }
        got += 1;
    }
    let elapsed = start.elapsed();
    publisher.join().unwrap();
    elapsed
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo bench --no-run` / test discovery: nothing to list
    }
    let (Some(b), Some(mpub)) = (
        Broker::mosquitto_with(None, WINDOW),
        find_program("mosquitto_pub"),
    ) else {
        eprintln!("e2e benchmark skipped: needs mosquitto and mosquitto-clients");
        return;
    };
    let n: usize = std::env::var("E2E_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    println!(
        "end-to-end through mosquitto on loopback, {n} messages of 64 bytes, counted at a subscriber\n"
    );
    println!(
        "| QoS | umqtt msgs/s | rumqttc msgs/s | mosquitto_pub msgs/s | umqtt / rumqttc | umqtt / mosquitto_pub |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let only: Option<u8> = std::env::var("E2E_QOS").ok().and_then(|v| v.parse().ok());
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .filter(|q| only.is_none_or(|o| o == *q as u8))
    {
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        let u = rate(measure(
            &b,
            qos,
            n,
            "umqtt",
            umqtt_publisher(b.addr(), qos, n),
        ));
        let r = rate(measure(
            &b,
            qos,
            n,
            "rumqttc",
            rumqttc_publisher(b.addr(), qos, n),
        ));
        let m = rate(measure(
            &b,
            qos,
            n,
            "mosqpub",
            mosquitto_pub_publisher(mpub.clone(), b.addr().port(), qos, n),
        ));
        println!(
            "| {} | {u:.0} | {r:.0} | {m:.0} | {:.2} | {:.2} |",
            qos as u8,
            u / r,
            u / m
        );
    }
    // Round trip: publish QoS 1 to a topic this client subscribes to, wait for it.
    let (mut c, _) = Conn::connect(b.addr(), ConnectOptions::new("rtt").unwrap(), 4096).unwrap();
    c.subscribe("e2e/rtt", QoS::AtLeastOnce).unwrap();
    let mut samples = Vec::new();
    for _ in 0..2_000 {
        let t = Instant::now();
        c.queue("e2e/rtt", &PAYLOAD, QoS::AtLeastOnce, false)
            .unwrap();
        c.recv(Duration::from_secs(5)).unwrap().expect("round trip");
        samples.push(t.elapsed());
    }
    samples.sort();
    println!(
        "\numqtt round trip (QoS 1 publish → own subscription, non-blocking driver polling every 1 ms at most): p50 {:?}, p99 {:?}",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100]
    );
}
