//! Throughput of the tokio handle against the blocking driver and rumqttc's `AsyncClient`,
//! through one mosquitto in the same run: 10,000 QoS 1 messages of 64 bytes (window 32 each;
//! the broker's `max_inflight_messages` 32 to match), each counted at a subscriber on TCP.
//! The handle is used as a new user writes it: a task awaiting `TokioClient::publish` in a
//! loop while another polls the `EventLoop` (a multi-thread runtime, two workers); rumqttc
//! the same way on a current-thread runtime, as `benches/support/peers.rs` runs it.
//!
//! `cargo bench --bench handle` (needs mosquitto; `HANDLE_MESSAGES` sets the count). Prints
//! msgs/s per round and the ratios.

#[path = "../tests/support/broker.rs"]
#[allow(dead_code)]
mod broker;

#[path = "support/peers.rs"]
mod peers;

use std::time::Duration;

use broker::Broker;
use peers::{PAYLOAD, WINDOW, measure, rumqttc_publisher, umqtt_publisher};
use umqtt::managed::tokio::{OwnedEvent, TokioClient};
use umqtt::{Client, ConnectOptions, QoS};

fn tokio_handle(addr: std::net::SocketAddr, n: usize) -> impl FnOnce(String) + Send + 'static {
    move |topic| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let o = ConnectOptions::new("pub-handle")
                .unwrap()
                .max_inflight(WINDOW);
            let client =
                Client::new(o, vec![0; 64 << 10], vec![0; 64 << 10], vec![0; 256 << 10]).unwrap();
            let (handle, mut eventloop) =
                TokioClient::with_client(client, format!("mqtt://{addr}"), 64).unwrap();
            let publisher = handle.clone();
            let sender = tokio::spawn(async move {
                for _ in 0..n {
                    publisher
                        .publish(topic.clone(), &PAYLOAD[..], QoS::AtLeastOnce, false)
                        .await
                        .unwrap();
                }
            });
            let mut acked = 0;
            while acked < n {
                if let OwnedEvent::Published { .. } = eventloop.poll().await.unwrap() {
                    acked += 1;
                }
            }
            sender.await.unwrap();
            let stop = tokio::spawn(async move { handle.disconnect().await });
            while !eventloop.is_done() {
                if eventloop.poll().await.is_err() {
                    break;
                }
            }
            stop.await.unwrap().unwrap();
        });
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let Some(b) = Broker::mosquitto_conf(&format!(
        "allow_anonymous true\nmax_inflight_messages {WINDOW}\nmax_queued_messages 0\n"
    )) else {
        eprintln!("handle benchmark skipped: needs mosquitto");
        return;
    };
    let n: usize = std::env::var("HANDLE_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let addr = b.addr();
    let mut rows = Vec::new();
    for round in 0..3 {
        let blocking = rate(measure(
            &b,
            n,
            &format!("blocking{round}"),
            umqtt_publisher(addr, QoS::AtLeastOnce, n),
        ));
        let handle = rate(measure(
            &b,
            n,
            &format!("handle{round}"),
            tokio_handle(addr, n),
        ));
        let rumqttc = rate(measure(
            &b,
            n,
            &format!("rumqttc{round}"),
            rumqttc_publisher(addr, QoS::AtLeastOnce, n),
        ));
        rows.push((blocking, handle, rumqttc));
    }
    println!(
        "{n} QoS 1 x {} B, window {WINDOW}, mosquitto on loopback, 3 rounds:",
        PAYLOAD.len()
    );
    println!(
        "| round | umqtt Blocking msgs/s | umqtt TokioClient msgs/s | rumqttc AsyncClient msgs/s | handle / blocking | handle / rumqttc |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, (blocking, handle, rumqttc)) in rows.iter().enumerate() {
        println!(
            "| {} | {blocking:.0} | {handle:.0} | {rumqttc:.0} | {:.2} | {:.2} |",
            i + 1,
            handle / blocking,
            handle / rumqttc
        );
    }
}
