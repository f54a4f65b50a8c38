//! Many clients in one process, as device simulators, gateways and load tests run them: N
//! tokio clients on one runtime (two worker threads) against one mosquitto, each
//! subscribing to its own topic and publishing a 64-byte QoS 1 message to it every second,
//! for umqtt's `TokioClient` (as a new user writes it: `TokioClient::new`, default buffers;
//! and with buffers sized for the job, 1 KiB rx / tx and a 4 KiB store) and for rumqttc's
//! `AsyncClient` (its defaults), each in its own process. Per run: connect rate (at most
//! 100 connecting at once), resident memory per connection once all are subscribed and after
//! the steady phase, CPU per message in the steady phase, and every message delivered.
//!
//! `cargo bench --bench many` (needs mosquitto; `MANY=1000,10000` sets the client counts,
//! `MANY_SECS=10` the steady phase). The file-descriptor limit is raised to the hard limit
//! (20,000 here) for this process and the broker it starts.

#[path = "../tests/support/broker.rs"]
#[allow(dead_code)]
mod broker;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

const PAYLOAD: [u8; 64] = [0x5A; 64];
const CONNECTING: usize = 100;

/// What one run measured.
struct Figures {
    connect: Duration,
    rss_base_kib: u64,
    rss_subscribed_kib: u64,
    rss_end_kib: u64,
    cpu_steady: Duration,
    sent: usize,
    received: usize,
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// User + system time of this process (clock ticks of 10 ms).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Raises this process's open-file limit to its hard limit (children inherit it).
fn raise_fd_limit() {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let hard = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|h| h.parse::<u64>().ok())
        .unwrap_or(1024);
    let rlim = libc::rlimit {
        rlim_cur: hard,
        rlim_max: hard,
    };
    #[allow(unsafe_code)]
    // SAFETY: a valid rlimit, read by the kernel only.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rlim) };
    assert_eq!(rc, 0, "setrlimit");
}

/// Counters the clients' tasks share.
#[derive(Default)]
struct Shared {
    subscribed: AtomicUsize,
    received: AtomicUsize,
    sent: AtomicUsize,
}

/// One client of `lib`: connects (a permit of `gate` held until subscribed), then publishes
/// every second until `stop`, counting what comes back.
async fn client(
    lib: &'static str,
    i: usize,
    port: u16,
    gate: Arc<Semaphore>,
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Receiver<u8>,
    slot: Duration,
) {
    let topic = format!("many/{i}");
    let id = format!("many-{i}");
    let permit = gate.acquire_owned().await.unwrap();
    match lib {
        "umqtt" | "umqtt-small" => {
            use umqtt::managed::tokio::{OwnedEvent, TokioClient};
            let o = umqtt::ConnectOptions::new(&id).unwrap().keep_alive_secs(60);
            let url = format!("mqtt://127.0.0.1:{port}");
            let (c, mut el) = if lib == "umqtt" {
                TokioClient::new(url, o, 16).unwrap()
            } else {
                let client =
                    umqtt::Client::new(o, vec![0; 1024], vec![0; 1024], vec![0; 4096]).unwrap();
                TokioClient::with_client(client, url, 16).unwrap()
            };
            c.subscribe(topic.clone(), umqtt::QoS::AtLeastOnce)
                .await
                .unwrap();
            let (counters, mine) = (shared.clone(), Arc::new(AtomicUsize::new(0)));
            let got = mine.clone();
            let events = tokio::spawn(async move {
                let mut permit = Some(permit);
                while !el.is_done() {
                    match el.poll().await {
                        Ok(OwnedEvent::Subscribed { .. }) => {
                            drop(permit.take());
                            counters.subscribed.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(OwnedEvent::Message(_)) => {
                            counters.received.fetch_add(1, Ordering::Relaxed);
                            got.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(e) => panic!("umqtt client {i}: {e}"),
                    }
                }
            });
            let sent = started(&shared, stop.clone(), slot, || {
                let c = c.clone();
                let topic = topic.clone();
                async move {
                    c.publish(topic, &PAYLOAD[..], umqtt::QoS::AtLeastOnce, false)
                        .await
                        .unwrap();
                }
            })
            .await;
            all_back(&mine, sent).await;
            c.disconnect().await.unwrap();
            events.await.unwrap();
        }
        _ => {
            use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
            let mut o = MqttOptions::new(id, "127.0.0.1", port);
            o.set_keep_alive(Duration::from_secs(60));
            let (c, mut el) = AsyncClient::new(o, 16);
            c.subscribe(topic.clone(), QoS::AtLeastOnce).await.unwrap();
            let (counters, mine) = (shared.clone(), Arc::new(AtomicUsize::new(0)));
            let got = mine.clone();
            let events = tokio::spawn(async move {
                let mut permit = Some(permit);
                loop {
                    match el.poll().await {
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            drop(permit.take());
                            counters.subscribed.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Event::Incoming(Packet::Publish(_))) => {
                            counters.received.fetch_add(1, Ordering::Relaxed);
                            got.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                        Ok(_) => {}
                        Err(e) => panic!("rumqttc client {i}: {e}"),
                    }
                }
            });
            let sent = started(&shared, stop.clone(), slot, || {
                let c = c.clone();
                let topic = topic.clone();
                async move {
                    c.publish(topic, QoS::AtLeastOnce, false, &PAYLOAD[..])
                        .await
                        .unwrap();
                }
            })
            .await;
            all_back(&mine, sent).await;
            c.disconnect().await.unwrap();
            events.await.unwrap();
        }
    }
}

/// Once `phase` says 1 (all subscribed), publishes with `publish` every second, starting at
/// this client's slot (`slot` spreads the clients over the second), until it says 2; returns
/// how many it published.
async fn started<F: std::future::Future<Output = ()>>(
    shared: &Shared,
    mut phase: tokio::sync::watch::Receiver<u8>,
    slot: Duration,
    mut publish: impl FnMut() -> F,
) -> usize {
    drop(phase.wait_for(|p| *p >= 1).await);
    tokio::time::sleep(slot).await;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut sent = 0;
    loop {
        tokio::select! {
            _ = async { drop(phase.wait_for(|p| *p >= 2).await) } => return sent,
            _ = tick.tick() => {
                publish().await;
                sent += 1;
                shared.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Waits (up to 30 s) until `got` reaches `sent`: the last messages back before disconnecting.
async fn all_back(got: &AtomicUsize, sent: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.load(Ordering::Relaxed) < sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The child process: `n` clients of `lib` against the broker on `port`.
fn child(lib: &'static str, n: usize, port: u16, secs: u64) -> Figures {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let rss_base_kib = rss_kib();
        let gate = Arc::new(Semaphore::new(CONNECTING));
        let shared = Arc::new(Shared::default());
        let (phase, stop) = tokio::sync::watch::channel(0u8);
        let start = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let slot = Duration::from_micros(1_000_000 * i as u64 / n as u64);
                tokio::spawn(client(
                    lib,
                    i,
                    port,
                    gate.clone(),
                    shared.clone(),
                    stop.clone(),
                    slot,
                ))
            })
            .collect();
        while shared.subscribed.load(Ordering::Relaxed) < n {
            assert!(start.elapsed() < Duration::from_secs(300), "connecting");
            assert!(
                !tasks.iter().any(|t| t.is_finished()),
                "a client ended early"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let connect = start.elapsed();
        let rss_subscribed_kib = rss_kib();
        let cpu_start = cpu();
        phase.send_replace(1);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        phase.send_replace(2);
        let cpu_steady = cpu() - cpu_start;
        let rss_end_kib = rss_kib();
        for t in tasks {
            t.await.unwrap();
        }
        let sent = shared.sent.load(Ordering::Relaxed);
        let received = shared.received.load(Ordering::Relaxed);
        Figures {
            connect,
            rss_base_kib,
            rss_subscribed_kib,
            rss_end_kib,
            cpu_steady,
            sent,
            received,
        }
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let lib: &'static str = match args[at + 1].as_str() {
            "umqtt" => "umqtt",
            "umqtt-small" => "umqtt-small",
            _ => "rumqttc",
        };
        let n = args[at + 2].parse().unwrap();
        let port = args[at + 3].parse().unwrap();
        let secs = args[at + 4].parse().unwrap();
        let f = child(lib, n, port, secs);
        println!(
            "{} {} {} {} {} {} {}",
            f.connect.as_micros(),
            f.rss_base_kib,
            f.rss_subscribed_kib,
            f.rss_end_kib,
            f.cpu_steady.as_millis(),
            f.sent,
            f.received
        );
        return;
    }
    raise_fd_limit();
    let counts: Vec<usize> = std::env::var("MANY")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .map(|n| n.trim().parse().unwrap())
        .collect();
    let secs: u64 = std::env::var("MANY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let Some(b) = broker::Broker::mosquitto_conf(
        "allow_anonymous true\nmax_connections -1\nmax_queued_messages 0\n",
    ) else {
        eprintln!("many: mosquitto is not installed");
        return;
    };
    let port = b.addr().port();
    println!(
        "| clients | library | connect rate (/s) | RSS per connection, subscribed | after {secs} s | CPU per message (out and back) | delivered |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for n in counts {
        let mut per_conn = vec![];
        for lib in ["umqtt", "umqtt-small", "rumqttc"] {
            let out = Command::new(std::env::current_exe().unwrap())
                .args(["--child", lib, &n.to_string(), &port.to_string()])
                .arg(secs.to_string())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{lib} × {n}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: Vec<u64> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(|x| x.parse().unwrap())
                .collect();
            let (connect_us, base, subscribed, end, cpu_ms, sent, received) =
                (v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
            let kib = |rss: u64| (rss - base) as f64 / n as f64;
            per_conn.push((lib, kib(end)));
            println!(
                "| {n} | {lib} | {:.0} | {:.1} KiB | {:.1} KiB | {:.1} µs | {received} of {sent} |",
                n as f64 / (connect_us as f64 / 1e6),
                kib(subscribed),
                kib(end),
                cpu_ms as f64 * 1e3 / sent.max(1) as f64,
            );
            assert_eq!(received, sent, "{lib} × {n}: messages lost");
        }
        let rumqttc = per_conn[2].1;
        for (lib, kib) in &per_conn[..2] {
            println!(
                "{n} clients: {lib} resident memory per connection {:.2}× rumqttc's",
                kib / rumqttc
            );
        }
    }
}
