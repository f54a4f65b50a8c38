//! CPU per message (user + system time), publishing and receiving through mosquitto on
//! loopback: umqtt (blocking driver), rumqttc (async client, current-thread runtime) and
//! libmosquitto (`mosquitto_pub`, `mosquitto_sub -C`), 64-byte messages, 200,000 at QoS 0
//! and 100,000 at QoS 1 by default (`CPU_MESSAGES` scales both). The subscribers receive
//! from a publisher in another process (this bench, umqtt, `--publish`).
//!
//! `cargo bench --bench cpu` (needs mosquitto and mosquitto-clients). The in-process clients
//! are measured with `getrusage(RUSAGE_SELF)` around a run in which nothing else runs in this
//! process (the other side is a child process fed from a file); the C clients with `wait4`'s
//! rusage of their own process. Each row is run `CPU_ROUNDS` times (3), interleaved, and the
//! lowest kept: the machine is shared.

#[path = "../tests/support/broker.rs"]
#[allow(dead_code)]
mod broker;
#[path = "support/peers.rs"]
mod peers;

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use broker::{Broker, find_program};
use peers::{PAYLOAD, WINDOW, rumqttc_publisher, umqtt_publisher};
use umqtt::{Blocking, Client, Clock, ConnectOptions, Event, QoS, StdClock, TcpTransport};

/// User + system time of this process so far.
fn self_cpu() -> Duration {
    usage(|u| getrusage(libc::RUSAGE_SELF, u))
}

fn usage(get: impl FnOnce(&mut libc::rusage)) -> Duration {
    let mut u = zeroed_rusage();
    get(&mut u);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// A rusage of zeros, for the kernel to fill.
fn zeroed_rusage() -> libc::rusage {
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    libc::rusage {
        ru_utime: tv,
        ru_stime: tv,
        ru_maxrss: 0,
        ru_ixrss: 0,
        ru_idrss: 0,
        ru_isrss: 0,
        ru_minflt: 0,
        ru_majflt: 0,
        ru_nswap: 0,
        ru_inblock: 0,
        ru_oublock: 0,
        ru_msgsnd: 0,
        ru_msgrcv: 0,
        ru_nsignals: 0,
        ru_nvcsw: 0,
        ru_nivcsw: 0,
    }
}

#[allow(unsafe_code)]
fn getrusage(who: libc::c_int, u: &mut libc::rusage) {
    // SAFETY: `u` is a valid, exclusive rusage for the call to fill.
    let rc = unsafe { libc::getrusage(who, u) };
    assert_eq!(rc, 0);
}

/// Waits for `child` and returns its own user + system time.
#[allow(unsafe_code)]
fn child_cpu(child: Child) -> Duration {
    usage(|u| {
        let mut status = 0;
        // SAFETY: `child` is our unwaited child; `status` and `u` are valid for the call.
        let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, u) };
        assert_eq!(pid, child.id() as libc::pid_t);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{status}"
        );
    })
}

/// A file of `n` lines of the payload, for `mosquitto_pub -l` to read without our help.
fn lines_file(n: usize) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("umqtt-cpu-{}-{n}.txt", std::process::id()));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for _ in 0..n {
        f.write_all(&PAYLOAD).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.flush().unwrap();
    path
}

/// libmosquitto publishing `n` messages: `mosquitto_pub -l` from the file at QoS 0; at
/// QoS 1 `--repeat` (one message in flight at a time), because `-l` at QoS 1 exits at the
/// end of its input with messages still queued — mosquitto 2.0.11 delivered 34,467 of
/// 100,000 that way.
fn mosquitto_pub(
    bin: &std::path::Path,
    port: u16,
    topic: &str,
    qos: QoS,
    file: &std::path::Path,
    n: usize,
) -> Child {
    let mut c = Command::new(bin);
    c.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", topic])
        .args(["-q", &(qos as u8).to_string()])
        .stdout(Stdio::null());
    if qos == QoS::AtMostOnce {
        c.arg("-l").stdin(std::fs::File::open(file).unwrap());
    } else {
        let payload = String::from_utf8(PAYLOAD.to_vec()).unwrap();
        c.args(["-m", &payload, "--repeat", &n.to_string()]);
    }
    c.spawn().unwrap()
}

/// The publisher the subscribers receive from: this bench run as a child process
/// (`--publish PORT TOPIC QOS N`), umqtt's blocking driver — reliable at every QoS, and its
/// CPU is not this process's.
fn publisher_process(port: u16, topic: &str, qos: QoS, n: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--publish", &port.to_string(), topic])
        .args([(qos as u8).to_string(), n.to_string()])
        .spawn()
        .unwrap()
}

/// CPU of this process while `run` publishes (nothing else runs here meanwhile).
fn in_process(run: impl FnOnce(String) + Send + 'static, topic: String) -> Duration {
    let before = self_cpu();
    std::thread::spawn(move || run(topic)).join().unwrap();
    self_cpu() - before
}

/// How long a subscriber waits for the next message before it reports what it got (QoS 0
/// messages a broker drops must not hang the bench).
const QUIET: Duration = Duration::from_secs(3);

/// umqtt subscribes (blocking driver), then counts the messages (`n` expected) that
/// `mosquitto_pub` publishes: (CPU of this process over the run, messages received).
fn umqtt_subscriber(
    addr: std::net::SocketAddr,
    topic: &str,
    qos: QoS,
    start: impl FnOnce() -> Child,
    n: usize,
) -> (Duration, usize) {
    let before = self_cpu();
    let o = ConnectOptions::new("cpu-sub-umqtt").unwrap();
    let client = Client::new(o, vec![0; 64 << 10], vec![0; 64 << 10], vec![0; 64 << 10]).unwrap();
    let io = TcpTransport::connect(addr).unwrap();
    let got = std::cell::Cell::new(0);
    let count = |e: Event<'_>| {
        if let Event::Message(_) = e {
            got.set(got.get() + 1);
        }
    };
    let mut m = Blocking::new(client, io, StdClock::new(), count);
    m.connect().unwrap();
    m.subscribe(topic, qos).unwrap();
    while got.get() == 0 && m.client().inflight() > 0 {
        m.wait_msg().unwrap(); // the SUBACK
    }
    let publisher = start();
    let mut clock = StdClock::new();
    let mut last = (0, clock.now_ms());
    while got.get() < n {
        m.run_for(100).unwrap();
        if got.get() != last.0 {
            last = (got.get(), clock.now_ms());
        } else if clock.now_ms() - last.1 > QUIET.as_millis() as u64 {
            break;
        }
    }
    m.disconnect().unwrap();
    let cpu = self_cpu() - before;
    child_cpu(publisher);
    (cpu, got.get())
}

fn rumqttc_subscriber(
    addr: std::net::SocketAddr,
    topic: &str,
    qos: QoS,
    start: impl FnOnce() -> Child,
    n: usize,
) -> (Duration, usize) {
    let before = self_cpu();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let publisher = rt.block_on(async {
        let o = rumqttc::MqttOptions::new("cpu-sub-rumqttc", addr.ip().to_string(), addr.port());
        let (client, mut eventloop) = rumqttc::AsyncClient::new(o, 64);
        client
            .subscribe(topic, peers::rumqttc_qos(qos))
            .await
            .unwrap();
        loop {
            if let rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) =
                eventloop.poll().await.unwrap()
            {
                break;
            }
        }
        let publisher = start();
        let mut got = 0;
        while got < n {
            match tokio::time::timeout(QUIET, eventloop.poll()).await {
                Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(_)))) => got += 1,
                Ok(e) => drop(e.unwrap()),
                Err(_) => break, // quiet: the broker dropped some
            }
        }
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
        (publisher, got)
    });
    drop(rt);
    let cpu = self_cpu() - before;
    child_cpu(publisher.0);
    (cpu, publisher.1)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, port, topic, qos, n] = &args[..] {
        if flag == "--publish" {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port.parse().unwrap()));
            let qos = QoS::from_bits(qos.parse().unwrap()).unwrap();
            umqtt_publisher(addr, qos, n.parse().unwrap())(topic.clone());
            return;
        }
    }
    let (Some(b), Some(mpub), Some(msub)) = (
        Broker::mosquitto_conf(&format!(
            "max_inflight_messages {WINDOW}\nmax_queued_messages 0\nset_tcp_nodelay true\nallow_anonymous true\n"
        )),
        find_program("mosquitto_pub"),
        find_program("mosquitto_sub"),
    ) else {
        eprintln!("cpu benchmark skipped: needs mosquitto and mosquitto-clients");
        return;
    };
    let scale: f64 = std::env::var("CPU_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let rounds: usize = std::env::var("CPU_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let addr = b.addr();
    let port = addr.port();
    println!(
        "CPU per message (user + system), 64-byte messages through mosquitto on loopback, best of {rounds}\n"
    );
    println!(
        "| side | QoS | messages | umqtt µs/msg | rumqttc µs/msg | libmosquitto µs/msg | umqtt / rumqttc | umqtt / libmosquitto |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (qos, n) in [(QoS::AtMostOnce, 200_000.0), (QoS::AtLeastOnce, 100_000.0)] {
        let n = (n * scale) as usize;
        let file = lines_file(n);
        let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        let q = qos as u8;
        // Publishing: nobody subscribes; QoS 1 waits for every PUBACK.
        let (mut u, mut r, mut c) = (f64::MAX, f64::MAX, f64::MAX);
        for round in 0..rounds {
            let topic = format!("cpu/pub/{q}/{round}");
            u = u.min(per(in_process(
                umqtt_publisher(addr, qos, n),
                topic.clone(),
            )));
            r = r.min(per(in_process(
                rumqttc_publisher(addr, qos, n),
                topic.clone(),
            )));
            c = c.min(per(child_cpu(mosquitto_pub(
                &mpub, port, &topic, qos, &file, n,
            ))));
        }
        println!(
            "| publish | {q} | {n} | {u:.2} | {r:.2} | {c:.2} | {:.2} | {:.2} |",
            u / r,
            u / c
        );
        // Receiving what mosquitto_pub publishes, per message received.
        let per_got = |(d, got): (Duration, usize)| {
            if got < n {
                eprintln!("(QoS {q}: {got} of {n} received: the broker dropped some)");
            }
            d.as_secs_f64() * 1e6 / got.max(1) as f64
        };
        let (mut u, mut r, mut c) = (f64::MAX, f64::MAX, f64::MAX);
        for round in 0..rounds {
            let topic = format!("cpu/sub/{q}/{round}");
            let start = || publisher_process(port, &topic, qos, n);
            u = u.min(per_got(umqtt_subscriber(addr, &topic, qos, start, n)));
            r = r.min(per_got(rumqttc_subscriber(addr, &topic, qos, start, n)));
            let sub = Command::new(&msub)
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", &topic])
                .args([
                    "-q",
                    &q.to_string(),
                    "-C",
                    &n.to_string(),
                    "-i",
                    "cpu-sub-mosq",
                    "-W",
                    "60",
                ])
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(500)); // subscribed before the first message
            let publisher = start();
            c = c.min(per(child_cpu(sub)));
            child_cpu(publisher);
        }
        println!(
            "| receive | {q} | {n} | {u:.2} | {r:.2} | {c:.2} | {:.2} | {:.2} |",
            u / r,
            u / c
        );
        let _ = std::fs::remove_file(file);
    }
    println!("\ntarget: umqtt ≤ 0.5× rumqttc and ≤ 0.7× libmosquitto");
}
