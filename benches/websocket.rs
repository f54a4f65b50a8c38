//! MQTT over WebSocket against plain TCP, through one mosquitto in the same run: 10,000 QoS 1
//! messages of 64 bytes (the benches' payload) published by umqtt's blocking driver over `TcpTransport`, over
//! `WsTransport` (ws://), and by rumqttc over its WebSocket transport, each counted at a
//! subscriber on TCP (window 32 each; the broker's `max_inflight_messages` 32 to match).
//!
//! `cargo bench --bench websocket` (needs mosquitto with its websockets listener, Debian's
//! 2.0.11 has it; `WS_MESSAGES` sets the count). Prints msgs/s and the ratios.

#[path = "../tests/support/broker.rs"]
#[allow(dead_code)]
mod broker;

#[path = "support/peers.rs"]
mod peers;

use std::time::Duration;

use broker::Broker;
use peers::{PAYLOAD, WINDOW, measure, rumqttc_qos, umqtt_publisher};
use umqtt::transport::url::BrokerUrl;
use umqtt::transport::websocket::WsTransport;
use umqtt::{Blocking, Client, ConnectOptions, QoS, StdClock};

fn umqtt_ws(url: BrokerUrl, n: usize) -> impl FnOnce(String) + Send + 'static {
    move |topic| {
        let o = ConnectOptions::new("pub-umqtt-ws")
            .unwrap()
            .max_inflight(WINDOW);
        let client =
            Client::new(o, vec![0; 64 << 10], vec![0; 64 << 10], vec![0; 64 << 10]).unwrap();
        let io = WsTransport::connect(&url, None, 64 << 10).unwrap();
        let mut m = Blocking::new(client, io, StdClock::new(), |_| {});
        m.connect().unwrap();
        for _ in 0..n {
            m.publish(&topic, PAYLOAD, QoS::AtLeastOnce, false).unwrap();
        }
        m.wait_published().unwrap();
        m.disconnect().unwrap();
    }
}

fn rumqttc_ws(url: String, n: usize) -> impl FnOnce(String) + Send + 'static {
    move |topic| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let port = url
                .rsplit(':')
                .next()
                .and_then(|p| p.trim_end_matches('/').parse().ok())
                .unwrap();
            let mut o = rumqttc::MqttOptions::new("pub-rumqttc-ws", url.clone(), port);
            o.set_transport(rumqttc::Transport::Ws);
            o.set_inflight(WINDOW);
            let (client, mut eventloop) = rumqttc::AsyncClient::new(o, 64);
            let sender = tokio::spawn(async move {
                for _ in 0..n {
                    client
                        .publish(
                            topic.clone(),
                            rumqttc_qos(QoS::AtLeastOnce),
                            false,
                            PAYLOAD.to_vec(),
                        )
                        .await
                        .unwrap();
                }
                client
            });
            let mut acked = 0;
            while acked < n {
                if let rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) =
                    eventloop.poll().await.unwrap()
                {
                    acked += 1;
                }
            }
            let client = sender.await.unwrap();
            let _ = client.disconnect().await;
            let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
        });
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let Some((b, ws)) = Broker::mosquitto_ws_conf(&format!(
        "max_inflight_messages {WINDOW}\nmax_queued_messages 0\n"
    )) else {
        eprintln!("websocket benchmark skipped: needs mosquitto");
        return;
    };
    let n: usize = std::env::var("WS_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let url = format!("ws://127.0.0.1:{ws}/");
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let mut rows = Vec::new();
    for round in 0..3 {
        let tcp = rate(measure(
            &b,
            n,
            &format!("tcp{round}"),
            umqtt_publisher(b.addr(), QoS::AtLeastOnce, n),
        ));
        let ws = rate(measure(
            &b,
            n,
            &format!("ws{round}"),
            umqtt_ws(url.parse().unwrap(), n),
        ));
        let rws = rate(measure(
            &b,
            n,
            &format!("rws{round}"),
            rumqttc_ws(url.clone(), n),
        ));
        rows.push((tcp, ws, rws));
    }
    println!(
        "{n} QoS 1 x {} B, window {WINDOW}, mosquitto on loopback, 3 rounds:",
        PAYLOAD.len()
    );
    println!(
        "| round | umqtt TCP msgs/s | umqtt ws:// msgs/s | rumqttc ws:// msgs/s | umqtt ws / TCP | umqtt ws / rumqttc ws |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, (tcp, ws, rws)) in rows.iter().enumerate() {
        println!(
            "| {} | {tcp:.0} | {ws:.0} | {rws:.0} | {:.2} | {:.2} |",
            i + 1,
            ws / tcp,
            ws / rws
        );
    }
}
