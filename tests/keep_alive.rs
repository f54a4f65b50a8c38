//! Keep-alive on the real clock, through the std adapter (blocking and non-blocking, with its
//! 100 ms read timeout) and tokio (async): a client with a 2 s keep-alive idles for about 7 s
//! behind a loopback proxy that timestamps every packet it sends. MQTT-3.1.2-23: no interval
//! between two packets the client sends may exceed the keep-alive; at least three PINGREQs
//! fill the idle time.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::broker::*;
use umqtt::packet::{PacketType, Status, decode};
use umqtt::transport::tokio::{TokioDelay, connect};
use umqtt::{
    Async, Blocking, Client, ConnectOptions, Event, NonBlocking, QoS, StdClock, TcpTransport,
};

const KEEP_ALIVE_S: u16 = 2;
const IDLE: Duration = Duration::from_millis(7_000);

/// The packets one client sent, with the time each one's first byte reached the proxy.
type Sent = Arc<Mutex<Vec<(Instant, PacketType)>>>;

/// Starts a proxy to `upstream` for one connection; returns its address and the log of what
/// the client sent through it.
fn proxy(upstream: SocketAddr) -> (SocketAddr, Sent) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sent: Sent = Arc::default();
    let log = sent.clone();
    thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut broker = TcpStream::connect(upstream).unwrap();
        client.set_nodelay(true).unwrap();
        broker.set_nodelay(true).unwrap();
        let (mut c2, mut b2) = (client.try_clone().unwrap(), broker.try_clone().unwrap());
        thread::spawn(move || {
            let _ = std::io::copy(&mut b2, &mut c2);
            let _ = c2.shutdown(Shutdown::Both);
        });
        let (mut pending, mut buf) = (Vec::new(), [0u8; 4096]);
        let mut started: Option<Instant> = None;
        while let Ok(n) = client.read(&mut buf) {
            if n == 0 || broker.write_all(&buf[..n]).is_err() {
                break;
            }
            let now = Instant::now();
            if pending.is_empty() {
                started = Some(now);
            }
            pending.extend_from_slice(&buf[..n]);
            while let Ok(Status::Complete { packet, len }) = decode(&pending) {
                log.lock()
                    .unwrap()
                    .push((started.unwrap_or(now), packet.packet_type()));
                pending.drain(..len);
                started = Some(now);
            }
        }
        let _ = broker.shutdown(Shutdown::Both);
    });
    (addr, sent)
}

/// Publishes the message that ends a client's idle wait, after `IDLE`.
fn wake_after(broker: SocketAddr, topic: String) {
    thread::spawn(move || {
        thread::sleep(IDLE);
        let client = Client::new(
            ConnectOptions::new(&format!("{topic}-waker")).unwrap(),
            [0; 256],
            [0; 256],
            [0; 256],
        )
        .unwrap();
        let io = TcpTransport::connect(broker).unwrap();
        let mut m = Blocking::new(client, io, StdClock::new(), |_| {});
        m.connect().unwrap();
        m.publish(&topic, b"wake up", QoS::AtLeastOnce, false)
            .unwrap();
        m.wait_published().unwrap();
        m.disconnect().unwrap();
    });
}

fn options(id: &str) -> ConnectOptions<'_> {
    ConnectOptions::new(id)
        .unwrap()
        .keep_alive_secs(KEEP_ALIVE_S)
}

/// The largest gap between two packets the client sent, and the number of PINGREQs.
fn check(name: &str, sent: &Sent) {
    let sent = sent.lock().unwrap();
    let gaps: Vec<u128> = sent
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0).as_millis())
        .collect();
    let pings = sent
        .iter()
        .filter(|(_, t)| *t == PacketType::Pingreq)
        .count();
    let largest = gaps.iter().copied().max().unwrap_or(0);
    eprintln!("{name}: {pings} PINGREQs, gaps between packets sent (ms): {gaps:?}");
    assert!(pings >= 3, "{name}: {pings} PINGREQs in {IDLE:?} idle");
    assert!(
        largest <= u128::from(KEEP_ALIVE_S) * 1000,
        "{name}: {largest} ms between two packets, keep-alive {KEEP_ALIVE_S} s (MQTT-3.1.2-23)"
    );
}

fn blocking(broker: SocketAddr) {
    let (addr, sent) = proxy(broker);
    let client = Client::new(options("ka-blocking"), [0; 512], [0; 512], [0; 512]).unwrap();
    let io = TcpTransport::connect(addr).unwrap();
    let mut m = Blocking::new(client, io, StdClock::new(), |_| {});
    m.connect().unwrap();
    m.subscribe("ka/blocking", QoS::AtLeastOnce).unwrap();
    wake_after(broker, "ka/blocking".into());
    while !matches!(m.next_event().unwrap(), Event::Message(_)) {}
    m.disconnect().unwrap();
    check("blocking", &sent);
}

fn nonblocking(broker: SocketAddr) {
    let (addr, sent) = proxy(broker);
    let client = Client::new(options("ka-nb"), [0; 512], [0; 512], [0; 512]).unwrap();
    let io = TcpTransport::connect(addr).unwrap();
    let mut m = NonBlocking::new(client, io, StdClock::new(), |_| {});
    nb::block!(m.connect()).unwrap();
    nb::block!(m.subscribe("ka/nb", QoS::AtLeastOnce)).unwrap();
    wake_after(broker, "ka/nb".into());
    // A main loop that polls every 100 ms, as the docs suggest.
    loop {
        match m.next_event() {
            Ok(Event::Message(_)) => break,
            Ok(_) => {}
            Err(nb::Error::WouldBlock) => thread::sleep(Duration::from_millis(100)),
            Err(nb::Error::Other(e)) => panic!("{e}"),
        }
    }
    nb::block!(m.disconnect()).unwrap();
    check("nonblocking", &sent);
}

fn asynchronous(broker: SocketAddr) {
    let (addr, sent) = proxy(broker);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = Client::new(options("ka-async"), [0; 512], [0; 512], [0; 512]).unwrap();
        let io = connect(addr).await.unwrap();
        let mut m = Async::new(client, io, StdClock::new(), TokioDelay, |_| {});
        m.connect().await.unwrap();
        m.subscribe("ka/async", QoS::AtLeastOnce).await.unwrap();
        wake_after(broker, "ka/async".into());
        while !matches!(m.next_event().await.unwrap(), Event::Message(_)) {}
        m.disconnect().await.unwrap();
    });
    check("async", &sent);
}

#[test]
fn every_driver_sends_a_packet_within_the_keep_alive_on_the_real_clock() {
    let broker = Broker::any(None);
    let addr = broker.addr();
    let runs = [
        thread::spawn(move || blocking(addr)),
        thread::spawn(move || nonblocking(addr)),
        thread::spawn(move || asynchronous(addr)),
    ];
    for run in runs {
        run.join().unwrap();
    }
}
