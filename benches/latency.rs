//! Round-trip latency, publish → the client's own subscription through mosquitto on loopback
//! (`set_tcp_nodelay true`), 64-byte payload, QoS 0 and QoS 1: umqtt's blocking driver
//! (std TCP) and async driver (tokio), rumqttc (async client, `set_tcp_nodelay`), paho-mqtt
//! (Python, `benches/latency_paho.py`) and the floor: the same packets exchanged by a
//! minimal hand-written loop over a `TcpStream`. No sleeps anywhere: every client blocks on
//! its socket.
//!
//! `cargo bench --bench latency` (needs mosquitto; paho-mqtt for Python is optional).
//! `LATENCY_TRIPS` round trips per run (5,000), `LATENCY_ROUNDS` runs (3), interleaved
//! client by client; each cell is the median over the runs of that run's p50 / p99
//! (paho-mqtt: 300 trips a run, its QoS 1 trip takes ~40 ms).

#[path = "../tests/support/broker.rs"]
#[allow(dead_code)]
mod broker;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use broker::Broker;
use umqtt::packet::{Connect, Packet, PacketId, Publish, QosPid, Subscribe};
use umqtt::topic::TopicName;
use umqtt::transport::tokio::TokioDelay;
use umqtt::{Async, Blocking, Client, ConnectOptions, Event, QoS, StdClock, TcpTransport};

const PAYLOAD: [u8; 64] = [b'x'; 64];

/// p50 and p99 of `samples`, in microseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)];
    (at(50).as_secs_f64() * 1e6, at(99).as_secs_f64() * 1e6)
}

fn options(id: &str) -> ConnectOptions<'_> {
    ConnectOptions::new(id).unwrap()
}

fn umqtt_blocking(addr: SocketAddr, qos: QoS, trips: usize) -> Vec<Duration> {
    let client = Client::new(
        options("lat-blk"),
        vec![0; 4096],
        vec![0; 4096],
        vec![0; 4096],
    );
    let io = TcpTransport::connect(addr).unwrap();
    let mut m = Blocking::new(client.unwrap(), io, StdClock::new(), |_| {});
    m.connect().unwrap();
    let topic = format!("lat/blk/{}", qos as u8);
    m.subscribe(&topic, qos).unwrap();
    while !matches!(m.next_event().unwrap(), Event::Subscribed { .. }) {}
    let mut samples = Vec::with_capacity(trips);
    for _ in 0..trips {
        let t = Instant::now();
        m.publish(&topic, PAYLOAD, qos, false).unwrap();
        while !matches!(m.next_event().unwrap(), Event::Message(_)) {}
        samples.push(t.elapsed());
    }
    m.disconnect().unwrap();
    samples
}

fn umqtt_async(addr: SocketAddr, qos: QoS, trips: usize) -> Vec<Duration> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = Client::new(
            options("lat-async"),
            vec![0; 4096],
            vec![0; 4096],
            vec![0; 4096],
        );
        let io = umqtt::transport::tokio::connect(addr).await.unwrap();
        let mut m = Async::new(client.unwrap(), io, StdClock::new(), TokioDelay, |_| {});
        m.connect().await.unwrap();
        let topic = format!("lat/async/{}", qos as u8);
        m.subscribe(&topic, qos).await.unwrap();
        while !matches!(m.next_event().await.unwrap(), Event::Subscribed { .. }) {}
        let mut samples = Vec::with_capacity(trips);
        for _ in 0..trips {
            let t = Instant::now();
            m.publish(&topic, PAYLOAD, qos, false).await.unwrap();
            while !matches!(m.next_event().await.unwrap(), Event::Message(_)) {}
            samples.push(t.elapsed());
        }
        m.disconnect().await.unwrap();
        samples
    })
}

fn rumqttc(addr: SocketAddr, qos: QoS, trips: usize) -> Vec<Duration> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let o = rumqttc::MqttOptions::new("lat-rumqttc", addr.ip().to_string(), addr.port());
        let (client, mut eventloop) = rumqttc::AsyncClient::new(o, 64);
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        let q = match qos {
            QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
            _ => rumqttc::QoS::AtLeastOnce,
        };
        let topic = format!("lat/rumqttc/{}", qos as u8);
        client.subscribe(&topic, q).await.unwrap();
        loop {
            let e = eventloop.poll().await.unwrap();
            if let rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) = e {
                break;
            }
        }
        let mut samples = Vec::with_capacity(trips);
        for _ in 0..trips {
            let t = Instant::now();
            client
                .publish(&topic, q, false, PAYLOAD.to_vec())
                .await
                .unwrap();
            loop {
                let e = eventloop.poll().await.unwrap();
                if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(_)) = e {
                    break;
                }
            }
            samples.push(t.elapsed());
        }
        let _ = client.disconnect().await;
        samples
    })
}

/// Encodes `p` (umqtt's encoder prepares the bytes; the loop only moves them).
fn bytes(p: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let n = umqtt::packet::encode(p, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Reads exactly `n` bytes.
fn take(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// The floor: the packets prepared once, then one `write` and blocking `read`s per trip on
/// a `TcpStream` with Nagle off. At QoS 1 the broker's PUBACK and the delivered PUBLISH are
/// read, and the delivery's PUBACK goes out with the next PUBLISH (one write).
fn raw(addr: SocketAddr, qos: QoS, trips: usize) -> Vec<Duration> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let connect = Connect {
        protocol: umqtt::packet::Protocol::V311,
        keep_alive: 0,
        clean_session: true,
        client_id: umqtt::packet::MqttStr::new("lat-raw").unwrap(),
        will: None,
        login: None,
    };
    s.write_all(&bytes(&Packet::Connect(connect))).unwrap();
    assert_eq!(take(&mut s, 4), [0x20, 2, 0, 0]);
    let topic = format!("lat/raw/{}", qos as u8);
    let filter = umqtt::topic::TopicFilter::new(&topic).unwrap();
    let subs = [umqtt::packet::Subscription { filter, qos }];
    let sub = Subscribe {
        pid: PacketId::new(1).unwrap(),
        filters: umqtt::packet::List::new(&subs).unwrap(),
    };
    s.write_all(&bytes(&Packet::Subscribe(sub))).unwrap();
    assert_eq!(take(&mut s, 5)[0], 0x90);
    let pid = PacketId::new(2).unwrap();
    let publish = bytes(&Packet::Publish(Publish {
        dup: false,
        qos: match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            _ => QosPid::AtLeastOnce(pid),
        },
        retain: false,
        topic: TopicName::new(&topic).unwrap(),
        payload: &PAYLOAD,
    }));
    // What comes back: our PUBACK (4 bytes, QoS 1) and the delivery, the same size as ours.
    let expect = publish.len() + if qos == QoS::AtMostOnce { 0 } else { 4 };
    let mut out = publish.clone();
    let mut samples = Vec::with_capacity(trips);
    let mut back = vec![0u8; expect];
    for _ in 0..trips {
        let t = Instant::now();
        s.write_all(&out).unwrap();
        s.read_exact(&mut back).unwrap();
        samples.push(t.elapsed());
        if qos != QoS::AtMostOnce {
            // The delivery's packet id: after the PUBACK or before it.
            let delivery = if back[0] == 0x40 {
                &back[4..]
            } else {
                &back[..publish.len()]
            };
            let id_at = 2 + 2 + topic.len();
            let id = [delivery[id_at], delivery[id_at + 1]];
            out = [&[0x40, 2, id[0], id[1]][..], &publish].concat();
        }
    }
    samples
}

/// paho-mqtt (Python) measuring itself; None when it is not installed.
fn paho(addr: SocketAddr, qos: QoS, trips: usize) -> Option<(f64, f64)> {
    // Debian's python3, where python3-paho-mqtt installs (a pyenv one may lack it).
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let out = Command::new(python)
        .arg("benches/latency_paho.py")
        .args([
            addr.port().to_string(),
            (qos as u8).to_string(),
            trips.to_string(),
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>());
    Some((it.next()?.ok()?, it.next()?.ok()?))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let Some(b) = Broker::mosquitto_conf("set_tcp_nodelay true\nallow_anonymous true\n") else {
        eprintln!("latency benchmark skipped: needs mosquitto");
        return;
    };
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (trips, rounds) = (env("LATENCY_TRIPS", 5_000), env("LATENCY_ROUNDS", 3));
    let addr = b.addr();
    // A first connection warms the broker and the loopback path (the first measured in a
    // process otherwise comes out differently whichever client it is).
    raw(addr, QoS::AtMostOnce, 500);
    println!(
        "round trip publish → own subscription, 64 B, mosquitto on loopback; {trips} trips, median of {rounds} runs (µs)\n"
    );
    println!(
        "| client | QoS 0 p50 | QoS 0 p99 | QoS 1 p50 | QoS 1 p99 | QoS 0 p50 / floor | QoS 1 p50 / floor |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    type Run = fn(SocketAddr, QoS, usize) -> Vec<Duration>;
    let clients: [(&str, Run); 4] = [
        ("floor (hand-written loop)", raw),
        ("umqtt blocking", umqtt_blocking),
        ("umqtt async (tokio)", umqtt_async),
        ("rumqttc 0.25", rumqttc),
    ];
    let mut results = vec![[(Vec::new(), Vec::new()), (Vec::new(), Vec::new())]; clients.len() + 1];
    for _ in 0..rounds {
        for (q, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce].into_iter().enumerate() {
            for (i, (_, run)) in clients.iter().enumerate() {
                let (p50, p99) = percentiles(run(addr, qos, trips));
                results[i][q].0.push(p50);
                results[i][q].1.push(p99);
            }
            // paho's QoS 1 round trip waits on Nagle / delayed ACK (~40 ms): fewer trips.
            if let Some((p50, p99)) = paho(addr, qos, trips.min(300)) {
                results[clients.len()][q].0.push(p50);
                results[clients.len()][q].1.push(p99);
            }
        }
    }
    let names = clients.iter().map(|c| c.0).chain(["paho-mqtt (Python)"]);
    let floor = [
        median(results[0][0].0.clone()),
        median(results[0][1].0.clone()),
    ];
    for (name, r) in names.zip(results) {
        if r[0].0.is_empty() {
            println!("| {name} | not installed | | | | | |");
            continue;
        }
        let cell = |v: &Vec<f64>| median(v.clone());
        let (q0, q1) = (cell(&r[0].0), cell(&r[1].0));
        println!(
            "| {name} | {q0:.1} | {:.1} | {q1:.1} | {:.1} | {:.2} | {:.2} |",
            cell(&r[0].1),
            cell(&r[1].1),
            q0 / floor[0],
            q1 / floor[1]
        );
    }
    println!("\ntarget: umqtt within 1.1× of the floor and ahead of rumqttc");
}
