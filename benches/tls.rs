//! TLS against plain TCP through mosquitto on loopback, umqtt next to rumqttc (rustls, ring
//! provider): the handshake (from the TCP connect to CONNACK) and QoS 1 throughput (1,000
//! publishes of 64 bytes on a connected client, every PUBACK awaited; window / inflight 32).
//!
//! `cargo bench --bench tls` (needs mosquitto). One mosquitto serves both: a TLS listener with
//! a CA and server certificate generated at run time (rcgen, `tests/support/pki.rs`; nothing
//! committed) and a plain listener. Both clients verify the broker against that CA — no
//! insecure mode — and both do full handshakes: umqtt with `TlsOptions::no_resumption()`,
//! rumqttc with a config that has resumption disabled. One more handshake case, rumqttc keeping its session cache, shows what
//! a resumed TLS 1.3 handshake (no certificate work) costs against the same broker.
//!
//! criterion reports each case; at the end the bench prints a table of criterion's medians
//! with the ratios, then the same ratios from an interleaved pass (every case once per round,
//! rotating the order), which a busy neighbour on a shared machine skews less.

#[path = "../tests/support/broker.rs"]
#[allow(dead_code)]
mod broker;
#[path = "../tests/support/pki.rs"]
#[allow(dead_code)]
mod pki;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use broker::Broker;
use criterion::{Criterion, SamplingMode, Throughput};
use rumqttc::{AsyncClient, EventLoop, MqttOptions, Outgoing, Packet, TlsConfiguration, Transport};
use umqtt::transport::tls::{TlsOptions, TlsTransport};
use umqtt::{Blocking, Client, ConnectOptions, Event, QoS, StdClock, TcpTransport};

/// Messages per throughput batch.
const N: usize = 1_000;
const PAYLOAD: [u8; 64] = [b'x'; 64];
/// Messages in flight per client, and the broker's `max_inflight_messages`.
const WINDOW: u16 = 32;
/// The name both clients verify the broker's certificate against (an IP address SAN; it
/// spares rumqttc, which connects to the name it verifies, a "localhost" lookup).
const NAME: &str = "127.0.0.1";
/// Handshakes per case per round, and rounds, of the interleaved pass.
const HANDSHAKES_PER_ROUND: u32 = 20;
const ROUNDS: usize = 40;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Case {
    UmqttTcp,
    UmqttTls,
    RumqttcTls,
    RumqttcTcp,
    /// rumqttc over TLS with a config that keeps its session cache: after the first, every
    /// handshake resumes a session (mosquitto issues TLS 1.3 tickets). Handshakes only, for
    /// what the certificate work costs; umqtt's `TlsTransport` cannot do this.
    RumqttcTlsResumed,
}

/// Run order: each pair a ratio compares runs back to back.
const CASES: [Case; 4] = [
    Case::UmqttTcp,
    Case::UmqttTls,
    Case::RumqttcTls,
    Case::RumqttcTcp,
];
const HANDSHAKE_CASES: [Case; 5] = [
    Case::UmqttTcp,
    Case::UmqttTls,
    Case::RumqttcTls,
    Case::RumqttcTcp,
    Case::RumqttcTlsResumed,
];

impl Case {
    fn id(self) -> &'static str {
        match self {
            Case::UmqttTcp => "umqtt_tcp",
            Case::UmqttTls => "umqtt_tls",
            Case::RumqttcTls => "rumqttc_tls",
            Case::RumqttcTcp => "rumqttc_tcp",
            Case::RumqttcTlsResumed => "rumqttc_tls_resumed",
        }
    }

    fn tls(self) -> bool {
        matches!(
            self,
            Case::UmqttTls | Case::RumqttcTls | Case::RumqttcTlsResumed
        )
    }
}

struct Setup {
    _broker: Broker,
    /// mosquitto's process id, for its CPU time.
    broker_pid: Option<u32>,
    tls_addr: SocketAddr,
    tcp_addr: SocketAddr,
    umqtt_tls: TlsOptions,
    rumqttc_tls: Arc<rustls::ClientConfig>,
    /// The same, with rustls's default session cache.
    rumqttc_tls_resuming: Arc<rustls::ClientConfig>,
    rt: tokio::runtime::Runtime,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

fn next_id(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

type Handler = fn(Event<'_>);

fn ignore(_: Event<'_>) {}

type Umqtt<T> = Blocking<Vec<u8>, T, StdClock, Handler>;

fn umqtt_client(id: &str) -> Client<Vec<u8>> {
    let o = ConnectOptions::new(id).unwrap().max_inflight(WINDOW);
    Client::new(o, vec![0; 4096], vec![0; 4096], vec![0; 8192]).unwrap()
}

/// Connects over the transport `open` makes; returns the driver, the time to the open
/// transport (TCP, or TCP and TLS), and the time to CONNACK.
fn umqtt_connect<T: embedded_io::Read + embedded_io::Write>(
    open: impl FnOnce() -> std::io::Result<T>,
) -> (Umqtt<T>, Duration, Duration) {
    let client = umqtt_client(&next_id("umqtt"));
    let start = Instant::now();
    let io = open().unwrap();
    let transport = start.elapsed();
    let mut m = Blocking::new(client, io, StdClock::new(), ignore as Handler);
    m.connect().unwrap();
    (m, transport, start.elapsed())
}

fn rumqttc_options(s: &Setup, case: Case) -> MqttOptions {
    let addr = if case.tls() { s.tls_addr } else { s.tcp_addr };
    let mut o = MqttOptions::new(next_id("rumqttc"), NAME, addr.port());
    o.set_inflight(WINDOW);
    if case.tls() {
        let config = match case {
            Case::RumqttcTlsResumed => &s.rumqttc_tls_resuming,
            _ => &s.rumqttc_tls,
        };
        o.set_transport(Transport::Tls(TlsConfiguration::Rustls(config.clone())));
    }
    o
}

async fn rumqttc_connect(o: MqttOptions) -> (AsyncClient, EventLoop, Duration) {
    let (client, mut el) = AsyncClient::new(o, 64);
    let start = Instant::now();
    loop {
        if let rumqttc::Event::Incoming(Packet::ConnAck(_)) = el.poll().await.unwrap() {
            return (client, el, start.elapsed());
        }
    }
}

async fn rumqttc_close(client: AsyncClient, mut el: EventLoop) {
    client.disconnect().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match el.poll().await {
                Ok(rumqttc::Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// One handshake of `case`: (time to the open transport, for umqtt; time to CONNACK). The
/// disconnect afterwards is not timed.
fn handshake(s: &Setup, case: Case) -> (Option<Duration>, Duration) {
    match case {
        Case::UmqttTcp => {
            let (mut m, transport, total) = umqtt_connect(|| TcpTransport::connect(s.tcp_addr));
            m.disconnect().unwrap();
            (Some(transport), total)
        }
        Case::UmqttTls => {
            let (mut m, transport, total) =
                umqtt_connect(|| TlsTransport::connect(s.tls_addr, NAME, &s.umqtt_tls));
            m.disconnect().unwrap();
            (Some(transport), total)
        }
        Case::RumqttcTls | Case::RumqttcTcp | Case::RumqttcTlsResumed => s.rt.block_on(async {
            let (client, el, total) = rumqttc_connect(rumqttc_options(s, case)).await;
            rumqttc_close(client, el).await;
            (None, total)
        }),
    }
}

/// A connected client for the throughput batches (a handful of them: no boxing).
#[allow(clippy::large_enum_variant)]
enum Connected {
    UmqttTcp(Umqtt<TcpTransport>),
    UmqttTls(Umqtt<TlsTransport>),
    Rumqttc(AsyncClient, EventLoop),
}

impl Connected {
    fn open(s: &Setup, case: Case) -> Connected {
        match case {
            Case::UmqttTcp => {
                Connected::UmqttTcp(umqtt_connect(|| TcpTransport::connect(s.tcp_addr)).0)
            }
            Case::UmqttTls => Connected::UmqttTls(
                umqtt_connect(|| TlsTransport::connect(s.tls_addr, NAME, &s.umqtt_tls)).0,
            ),
            Case::RumqttcTls | Case::RumqttcTcp | Case::RumqttcTlsResumed => {
                let (client, el, _) = s.rt.block_on(rumqttc_connect(rumqttc_options(s, case)));
                Connected::Rumqttc(client, el)
            }
        }
    }

    /// `batches` times: publishes N QoS 1 messages and waits for every PUBACK.
    fn publish(&mut self, s: &Setup, topic: &str, batches: u64) -> Duration {
        fn umqtt<T: embedded_io::Read + embedded_io::Write>(
            m: &mut Umqtt<T>,
            topic: &str,
            batches: u64,
        ) -> Duration {
            let start = Instant::now();
            for _ in 0..batches {
                for _ in 0..N {
                    m.publish(topic, PAYLOAD, QoS::AtLeastOnce, false).unwrap();
                }
                m.wait_published().unwrap();
            }
            start.elapsed()
        }
        match self {
            Connected::UmqttTcp(m) => umqtt(m, topic, batches),
            Connected::UmqttTls(m) => umqtt(m, topic, batches),
            Connected::Rumqttc(client, el) => s.rt.block_on(async {
                let start = Instant::now();
                for _ in 0..batches {
                    let (client, topic) = (client.clone(), topic.to_string());
                    let sender = tokio::spawn(async move {
                        for _ in 0..N {
                            client
                                .publish(
                                    topic.as_str(),
                                    rumqttc::QoS::AtLeastOnce,
                                    false,
                                    PAYLOAD.to_vec(),
                                )
                                .await
                                .unwrap();
                        }
                    });
                    let mut acked = 0;
                    while acked < N {
                        if let rumqttc::Event::Incoming(Packet::PubAck(_)) =
                            el.poll().await.unwrap()
                        {
                            acked += 1;
                        }
                    }
                    sender.await.unwrap();
                }
                start.elapsed()
            }),
        }
    }

    fn close(self, s: &Setup) {
        match self {
            Connected::UmqttTcp(mut m) => m.disconnect().unwrap(),
            Connected::UmqttTls(mut m) => m.disconnect().unwrap(),
            Connected::Rumqttc(client, el) => s.rt.block_on(rumqttc_close(client, el)),
        }
    }
}

fn topic(case: Case) -> String {
    format!("bench/tls/{}", case.id())
}

/// Per-iteration times (seconds) of every call criterion made, per benchmark: its last
/// `sample_size` calls are its measurement samples.
type Samples = RefCell<HashMap<String, Vec<f64>>>;

fn record(samples: &Samples, key: &str, total: Duration, iters: u64) {
    samples
        .borrow_mut()
        .entry(key.to_string())
        .or_default()
        .push(total.as_secs_f64() / iters as f64);
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// criterion's median of `key`: the median of its last `n` samples (None if it did not run,
/// e.g. filtered out or in `--test` mode).
fn criterion_median(samples: &Samples, key: &str, n: usize) -> Option<f64> {
    let s = samples.borrow();
    let v = s.get(key)?;
    (v.len() >= n).then(|| median(&v[v.len() - n..]))
}

const HANDSHAKE_SAMPLES: usize = 20;
const THROUGHPUT_SAMPLES: usize = 10;

fn run_criterion(c: &mut Criterion, s: &Setup, samples: &Samples) {
    let mut g = c.benchmark_group("tls_handshake");
    g.sample_size(HANDSHAKE_SAMPLES)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sampling_mode(SamplingMode::Flat);
    for case in HANDSHAKE_CASES {
        let key = format!("handshake/{}", case.id());
        g.bench_function(case.id(), |b| {
            b.iter_custom(|iters| {
                let total: Duration = (0..iters).map(|_| handshake(s, case).1).sum();
                record(samples, &key, total, iters);
                total
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("tls_qos1_1000x64B");
    g.sample_size(THROUGHPUT_SAMPLES)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(N as u64));
    for case in CASES {
        let key = format!("qos1/{}", case.id());
        let mut conn = Connected::open(s, case);
        let t = topic(case);
        g.bench_function(case.id(), |b| {
            b.iter_custom(|iters| {
                let total = conn.publish(s, &t, iters);
                record(samples, &key, total, iters);
                total
            })
        });
        conn.close(s);
    }
    g.finish();
}

/// CPU time so far, in seconds, from a `/proc/…/schedstat` (Linux; None elsewhere).
fn cpu(path: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 * 1e-9)
}

/// CPU time of this thread (both clients run on it: rumqttc on a current-thread runtime) and
/// of mosquitto.
fn cpu_now(s: &Setup) -> Option<(f64, f64)> {
    let broker = cpu(&format!("/proc/{}/schedstat", s.broker_pid?))?;
    Some((cpu("/proc/thread-self/schedstat")?, broker))
}

/// Every case once per round, the order rotating: medians per case of the per-handshake time,
/// umqtt's time to the open transport, the client's and mosquitto's CPU time per connect and
/// disconnect, and the per-batch time.
fn interleaved(s: &Setup) -> HashMap<(&'static str, Case), f64> {
    let mut client_cpu: HashMap<Case, Vec<f64>> = HashMap::new();
    let mut broker_cpu: HashMap<Case, Vec<f64>> = HashMap::new();
    let mut hs: HashMap<Case, Vec<f64>> = HashMap::new();
    let mut transport: HashMap<Case, Vec<f64>> = HashMap::new();
    let mut qos1: HashMap<Case, Vec<f64>> = HashMap::new();
    let mut conns: Vec<(Case, Connected)> =
        CASES.iter().map(|&c| (c, Connected::open(s, c))).collect();
    for round in 0..ROUNDS {
        for i in 0..HANDSHAKE_CASES.len() {
            let case = HANDSHAKE_CASES[(i + round) % HANDSHAKE_CASES.len()];
            let mut total = Duration::ZERO;
            let mut open = Vec::new();
            let before = cpu_now(s);
            for _ in 0..HANDSHAKES_PER_ROUND {
                let (t, all) = handshake(s, case);
                total += all;
                open.extend(t.map(|t| t.as_secs_f64()));
            }
            if let (Some((c0, b0)), Some((c1, b1))) = (before, cpu_now(s)) {
                let per = f64::from(HANDSHAKES_PER_ROUND);
                client_cpu.entry(case).or_default().push((c1 - c0) / per);
                broker_cpu.entry(case).or_default().push((b1 - b0) / per);
            }
            hs.entry(case)
                .or_default()
                .push(total.as_secs_f64() / f64::from(HANDSHAKES_PER_ROUND));
            if !open.is_empty() {
                transport.entry(case).or_default().push(median(&open));
            }
            if let Some((_, conn)) = conns.iter_mut().find(|(c, _)| *c == case) {
                let t = conn.publish(s, &topic(case), 1).as_secs_f64();
                qos1.entry(case).or_default().push(t);
            }
        }
    }
    for (_, conn) in conns {
        conn.close(s);
    }
    let mut out = HashMap::new();
    for (what, m) in [
        ("handshake", hs),
        ("transport", transport),
        ("client_cpu", client_cpu),
        ("broker_cpu", broker_cpu),
        ("qos1", qos1),
    ] {
        for (case, v) in m {
            out.insert((what, case), median(&v));
        }
    }
    out
}

/// One raw rustls connection with `config`, sending CONNECT and reading CONNACK (so a session
/// ticket, if mosquitto sends one, is in): protocol, cipher suite, key exchange, and whether
/// the handshake was full or resumed.
fn probe(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> String {
    let name = rustls::pki_types::ServerName::try_from(NAME).unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    // CONNECT, MQTT 3.1.1, clean session, keep-alive 60 s, client id "probe".
    tls.write_all(b"\x10\x11\x00\x04MQTT\x04\x02\x00\x3c\x00\x05probe")
        .unwrap();
    let mut connack = [0; 4];
    tls.read_exact(&mut connack).unwrap();
    assert_eq!(connack, [0x20, 2, 0, 0], "CONNACK");
    format!(
        "{:?}, {:?}, {:?}, {:?} handshake",
        conn.protocol_version().unwrap(),
        conn.negotiated_cipher_suite().unwrap().suite(),
        conn.negotiated_key_exchange_group().unwrap().name(),
        conn.handshake_kind().unwrap()
    )
}

fn ring_config(ca: &str) -> rustls::ClientConfig {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn setup() -> Option<Setup> {
    let pki = pki::pki();
    let dir = pki::dir("bench");
    std::fs::create_dir_all(&dir).unwrap();
    for (file, pem) in [
        ("ca.pem", &pki.ca),
        ("server.pem", &pki.server_cert),
        ("server.key", &pki.server_key),
    ] {
        std::fs::write(dir.join(file), pem).unwrap();
    }
    let tcp_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The TLS listener is the helper's first one; the plain one follows. Errors and warnings
    // only: logging every packet (as `pki::tls_broker` does) would cost both alike but blur
    // the ratios.
    let broker = Broker::mosquitto_conf(&format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nlistener {tcp_port} 127.0.0.1\n\
         allow_anonymous true\nmax_inflight_messages {WINDOW}\nlog_type error\nlog_type warning\n",
        dir.join("ca.pem").display(),
        dir.join("server.pem").display(),
        dir.join("server.key").display(),
    ))?;
    let tcp_addr: SocketAddr = ([127, 0, 0, 1], tcp_port).into();
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(tcp_addr).is_err() {
        assert!(Instant::now() < deadline, "plain listener not up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut rumqttc_tls = ring_config(&pki.ca);
    rumqttc_tls.resumption = rustls::client::Resumption::disabled();
    Some(Setup {
        broker_pid: match &broker {
            Broker::Mosquitto { child, .. } => Some(child.id()),
            _ => None,
        },
        tls_addr: broker.addr(),
        _broker: broker,
        tcp_addr,
        umqtt_tls: TlsOptions::with_ca_pem(pki.ca.as_bytes())
            .unwrap()
            .no_resumption(),
        rumqttc_tls: Arc::new(rumqttc_tls),
        rumqttc_tls_resuming: Arc::new(ring_config(&pki.ca)),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    })
    .inspect(|s| {
        // What the handshakes negotiate, and whether mosquitto resumes a session for a
        // client that keeps its config.
        let shared = Arc::new(ring_config(&pki.ca));
        println!("TLS with mosquitto: {}", probe(s.tls_addr, &shared));
        println!(
            "  again with the same rustls config (session cache kept): {}\n",
            probe(s.tls_addr, &shared)
        );
    })
}

fn fmt_time(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.0} µs", secs * 1e6)
    } else {
        format!("{:.2} ms", secs * 1e3)
    }
}

fn print_table(get: impl Fn(&str, Case) -> Option<f64>, what: &[(&str, &str)]) {
    println!(
        "| | umqtt TCP | umqtt TLS | rumqttc TCP | rumqttc TLS | umqtt TLS / TCP | rumqttc TLS / TCP | umqtt TLS / rumqttc TLS |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for &(key, label) in what {
        let [ut, us, rt, rs] = [
            Case::UmqttTcp,
            Case::UmqttTls,
            Case::RumqttcTcp,
            Case::RumqttcTls,
        ]
        .map(|c| get(key, c));
        let cell = |v: Option<f64>| v.map_or("–".into(), fmt_time);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}", a / b),
            _ => "–".into(),
        };
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} | {} |",
            cell(ut),
            cell(us),
            cell(rt),
            cell(rs),
            ratio(us, ut),
            ratio(rs, rt),
            ratio(us, rs)
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // test discovery: nothing to list
    }
    let Some(s) = setup() else {
        eprintln!("tls benchmark skipped: needs mosquitto");
        return;
    };
    let samples = Samples::default();
    let mut c = Criterion::default().configure_from_args();
    run_criterion(&mut c, &s, &samples);
    c.final_summary();
    if std::env::args().any(|a| a == "--test") {
        return;
    }

    println!(
        "\nmedians of criterion's samples; QoS 1: {N} publishes of 64 bytes, every PUBACK awaited\n"
    );
    print_table(
        |key, case| {
            let n = match key {
                "handshake" => HANDSHAKE_SAMPLES,
                _ => THROUGHPUT_SAMPLES,
            };
            criterion_median(&samples, &format!("{key}/{}", case.id()), n)
        },
        &[
            ("handshake", "handshake (connect → CONNACK)"),
            ("qos1", "QoS 1 batch"),
        ],
    );

    let resumed = |get: &dyn Fn(Case) -> Option<f64>| {
        if let (Some(r), Some(full)) = (get(Case::RumqttcTlsResumed), get(Case::RumqttcTls)) {
            println!(
                "\nrumqttc TLS keeping its session cache (resumed TLS 1.3 handshakes): {}, {:.2} × its full handshake",
                fmt_time(r),
                r / full
            );
        }
    };
    resumed(&|case| {
        criterion_median(
            &samples,
            &format!("handshake/{}", case.id()),
            HANDSHAKE_SAMPLES,
        )
    });

    let il = interleaved(&s);
    println!(
        "\ninterleaved: {ROUNDS} rounds, each case once per round (order rotating): \
         {HANDSHAKES_PER_ROUND} handshakes and one batch\n"
    );
    print_table(
        |key, case| il.get(&(key, case)).copied(),
        &[
            ("handshake", "handshake (connect → CONNACK)"),
            ("transport", "of which transport open (umqtt)"),
            ("client_cpu", "client CPU per connect + disconnect"),
            ("broker_cpu", "mosquitto CPU per connect + disconnect"),
            ("qos1", "QoS 1 batch"),
        ],
    );
    resumed(&|case| il.get(&("handshake", case)).copied());
    if let (Some(c), Some(b)) = (
        il.get(&("client_cpu", Case::RumqttcTlsResumed)),
        il.get(&("broker_cpu", Case::RumqttcTlsResumed)),
    ) {
        println!(
            "  CPU per resumed connect + disconnect: client {}, mosquitto {}",
            fmt_time(*c),
            fmt_time(*b)
        );
    }
    let rate = |case| N as f64 / il[&("qos1", case)];
    println!(
        "\nQoS 1 msgs/s (interleaved): umqtt TCP {:.0}, umqtt TLS {:.0}, rumqttc TCP {:.0}, rumqttc TLS {:.0}",
        rate(Case::UmqttTcp),
        rate(Case::UmqttTls),
        rate(Case::RumqttcTcp),
        rate(Case::RumqttcTls)
    );
}
