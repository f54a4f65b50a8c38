//! The publishers the end-to-end benches compare, each publishing `n` messages of 64 bytes
//! to a topic: umqtt's blocking driver (window 32), rumqttc's async client on a
//! current-thread runtime (inflight 32), and mosquitto's C client (`mosquitto_pub -l`).
#![allow(dead_code)] // each bench uses its part

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use umqtt::{Blocking, Client, ConnectOptions, QoS, StdClock, TcpTransport};

/// The payload of every message.
pub const PAYLOAD: [u8; 64] = [b'x'; 64];
/// Messages in flight per publisher, and the broker's `max_inflight_messages`.
pub const WINDOW: u16 = 32;

/// rumqttc's QoS for ours.
pub fn rumqttc_qos(qos: QoS) -> rumqttc::QoS {
    match qos {
        QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

pub fn umqtt_publisher(
    addr: std::net::SocketAddr,
    qos: QoS,
    n: usize,
) -> impl FnOnce(String) + Send + 'static {
    move |topic| {
        let id = format!("pub-umqtt-{}", qos as u8);
        let o = ConnectOptions::new(&id).unwrap().max_inflight(WINDOW);
        let client = Client::new(o, vec![0; 64 << 10], vec![0; 64 << 10], vec![0; 64 << 10]);
        let io = TcpTransport::connect(addr).unwrap();
        // Publishes wait at a full window; the acknowledgements need no handling.
        let mut m = Blocking::new(client.unwrap(), io, StdClock::new(), |_| {});
        m.connect().unwrap();
        for _ in 0..n {
            m.publish(&topic, PAYLOAD, qos, false).unwrap();
        }
        m.wait_published().unwrap();
        m.disconnect().unwrap();
    }
}

pub fn rumqttc_publisher(
    addr: std::net::SocketAddr,
    qos: QoS,
    n: usize,
) -> impl FnOnce(String) + Send + 'static {
    move |topic| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut o = rumqttc::MqttOptions::new(
                format!("pub-rumqttc-{}", qos as u8),
                addr.ip().to_string(),
                addr.port(),
            );
            o.set_inflight(WINDOW);
            let (client, mut eventloop) = rumqttc::AsyncClient::new(o, 64);
            let q = rumqttc_qos(qos);
            let sender = tokio::spawn(async move {
                for _ in 0..n {
                    client
                        .publish(topic.clone(), q, false, PAYLOAD.to_vec())
                        .await
                        .unwrap();
                }
                client
            });
            let mut acked = 0;
            let want = if qos == QoS::AtMostOnce { 0 } else { n };
            let mut outgoing = 0;
            loop {
                match eventloop.poll().await.unwrap() {
                    rumqttc::Event::Incoming(
                        rumqttc::Packet::PubAck(_) | rumqttc::Packet::PubComp(_),
                    ) => acked += 1,
                    rumqttc::Event::Outgoing(rumqttc::Outgoing::Publish(_)) => outgoing += 1,
                    _ => {}
                }
                if acked >= want && outgoing >= n {
                    break;
                }
            }
            let client = sender.await.unwrap();
            let _ = client.disconnect().await;
            let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
        });
    }
}

pub fn mosquitto_pub_publisher(
    bin: std::path::PathBuf,
    port: u16,
    qos: QoS,
    n: usize,
) -> impl FnOnce(String) + Send + 'static {
    move |topic| {
        let mut child = Command::new(bin)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-t",
                &topic,
                "-q",
                &(qos as u8).to_string(),
                "-l",
            ])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let line = [&PAYLOAD[..], b"\n"].concat();
        for _ in 0..n {
            stdin.write_all(&line).unwrap();
        }
        drop(stdin);
        assert!(child.wait().unwrap().success());
    }
}

/// Subscribes on TCP, runs `publish`, and returns the time until the subscriber had all `n`.
pub fn measure(
    b: &crate::broker::Broker,
    n: usize,
    tag: &str,
    publish: impl FnOnce(String) + Send + 'static,
) -> Duration {
    let topic = format!("bench/{tag}");
    let (mut sub, _) = crate::broker::Conn::connect(
        b.addr(),
        ConnectOptions::new(&format!("sub-{tag}")).unwrap(),
        4096,
    )
    .unwrap();
    sub.subscribe(&topic, QoS::AtLeastOnce).unwrap();
    let start = Instant::now();
    let publisher = std::thread::spawn(move || publish(topic));
    for got in 0..n {
        if sub.recv(Duration::from_secs(10)).unwrap().is_none() {
            panic!("{tag}: only {got} of {n} arrived");
        }
    }
    let elapsed = start.elapsed();
    publisher.join().unwrap();
    elapsed
}
