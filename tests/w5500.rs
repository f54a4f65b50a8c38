//! MQTT through the W5500 (the `w5500-io` crate's emulated chip) against a real broker
//! (mosquitto in CI): 1 MiB each way with every byte checked, through the blocking and the
//! non-blocking driver; the W5500 program (the `umqtt-w5500-app` crate) getting a command while
//! a publish waits; and its async form over async SPI, sleeping on the chip's INTn pin instead
//! of polling. The chip itself is tested in `w5500-io/tests/emulator.rs` and
//! `w5500-io/tests/async_socket.rs`.

mod support;

use std::cell::RefCell;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use support::broker::*;
use umqtt::driver::time::{StdClock, StdDelay};
use umqtt::packet::QoS;
use umqtt::{Blocking, Client, ConnectOptions, Event, NonBlocking};
use w5500_io::emulator::Emulator;
use w5500_io::{NetConfig, TcpSocket, Timeouts, W5500};

const CONFIG: NetConfig = NetConfig {
    mac: [0x02, 0x00, 0x00, 0x00, 0x55, 0x00],
    ip: [127, 0, 0, 2],
    gateway: [127, 0, 0, 1],
    subnet: [255, 0, 0, 0],
};

type Socket = TcpSocket<Emulator, StdDelay>;

const MESSAGE: usize = 4 * 1024;
const TOTAL: usize = 1024 * 1024;

fn mqtt_client(id: &str) -> Client<Vec<u8>> {
    let options = ConnectOptions::new(id).unwrap().keep_alive_secs(10);
    let (rx, tx) = (vec![0; MESSAGE + 64], vec![0; MESSAGE + 64]);
    Client::new(options, rx, tx, vec![0; 32 * 1024]).unwrap()
}

/// What a test client saw: which messages arrived (each checked byte for byte), and how many
/// of its publishes were acknowledged.
#[derive(Default)]
struct Seen {
    messages: Vec<bool>,
    acked: usize,
}

impl Seen {
    fn new(n: usize) -> Rc<RefCell<Seen>> {
        Rc::new(RefCell::new(Seen {
            messages: vec![false; n],
            acked: 0,
        }))
    }

    fn record(&mut self, e: Event<'_>) {
        match e {
            Event::Message(msg) => self.messages[check(msg.payload)] = true,
            Event::Published { .. } => self.acked += 1,
            _ => {}
        }
    }

    fn all(&self) -> bool {
        self.messages.iter().all(|s| *s) && self.acked == self.messages.len()
    }
}

/// Message `seq`: its number, then bytes that differ with every position and message.
fn message(seq: usize) -> Vec<u8> {
    let mut m: Vec<u8> = (0..MESSAGE)
        .map(|i| (i.wrapping_mul(131) ^ seq.wrapping_mul(7919)) as u8)
        .collect();
    m[..4].copy_from_slice(&(seq as u32).to_be_bytes());
    m
}

/// Checks a delivered message byte for byte; returns its sequence number.
fn check(payload: &[u8]) -> usize {
    let seq = u32::from_be_bytes(payload[..4].try_into().unwrap()) as usize;
    assert!(payload == message(seq).as_slice(), "message {seq} differs");
    seq
}

fn w5500_to_broker(broker: &Broker, emu: &Emulator) -> Socket {
    let mut c = W5500::new(emu.clone());
    c.init(&CONFIG, &mut StdDelay).unwrap();
    // 16 KiB each way for socket 0 would be faster; 2 KiB (the reset value) makes the
    // back-pressure and wrap-around paths work hard.
    c.set_buffer_kib(0, 2, 2).unwrap();
    let mut s = TcpSocket::new(c, 0, StdDelay, Timeouts::default()).unwrap();
    let std::net::IpAddr::V4(ip) = broker.addr().ip() else {
        panic!("the broker listens on IPv4 loopback")
    };
    s.connect(ip.octets(), broker.addr().port()).unwrap();
    s
}

fn assert_stats(emu: &Emulator) {
    let stats = emu.stats(0);
    eprintln!("W5500 socket 0: {stats:?}");
    assert!(stats.sent >= TOTAL as u64 && stats.received >= TOTAL as u64);
    assert!(stats.tx_wraps >= 16 && stats.rx_wraps >= 16, "{stats:?}");
    assert!(
        stats.rx_full > 0,
        "RX back-pressure never happened: {stats:?}"
    );
}

#[test]
fn mqtt_through_the_w5500_one_mib_each_way_blocking() {
    let broker = Broker::any(None);
    let emu = Emulator::new();
    let s = w5500_to_broker(&broker, &emu);
    let n = TOTAL / MESSAGE;
    let seen = Seen::new(n);
    let handled = seen.clone();
    let handler = move |e: Event<'_>| handled.borrow_mut().record(e);
    let mut m = Blocking::new(mqtt_client("w5500-blocking"), s, StdClock::new(), handler);
    m.connect().unwrap();
    m.subscribe("w5500/echo", QoS::AtLeastOnce).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Each publish waits for room in the window; the echoes and acknowledgements that arrive
    // meanwhile go to the handler.
    for next in 0..n {
        assert!(Instant::now() < deadline, "timed out at {next}");
        m.publish("w5500/echo", message(next), QoS::AtLeastOnce, false)
            .unwrap();
    }
    m.wait_published().unwrap();
    while !seen.borrow().all() {
        assert!(Instant::now() < deadline, "timed out");
        let e = m.next_event().unwrap();
        seen.borrow_mut().record(e);
    }
    m.disconnect().unwrap();
    let (_, mut s, _, _) = m.into_parts();
    s.disconnect().unwrap();
    assert_stats(&emu);
}

#[test]
fn mqtt_through_the_w5500_one_mib_each_way_nonblocking() {
    let broker = Broker::any(None);
    let emu = Emulator::new();
    let s = w5500_to_broker(&broker, &emu);
    let n = TOTAL / MESSAGE;
    let seen = Seen::new(n);
    let handled = seen.clone();
    let handler = move |e: Event<'_>| handled.borrow_mut().record(e);
    let mut m = NonBlocking::new(mqtt_client("w5500-nb"), s, StdClock::new(), handler);
    let deadline = Instant::now() + Duration::from_secs(120);
    // `nb::block!` that lets the emulator's threads run between the calls.
    macro_rules! block {
        ($e:expr) => {
            loop {
                assert!(Instant::now() < deadline, "timed out");
                match $e {
                    Ok(r) => break r,
                    Err(nb::Error::WouldBlock) => std::thread::sleep(Duration::from_micros(200)),
                    Err(nb::Error::Other(e)) => panic!("{e}"),
                }
            }
        };
    }
    block!(m.connect());
    block!(m.subscribe("w5500/nb", QoS::AtLeastOnce));
    for next in 0..n {
        block!(m.publish("w5500/nb", message(next), QoS::AtLeastOnce, false));
    }
    block!(m.wait_published());
    while !seen.borrow().all() {
        assert!(Instant::now() < deadline, "timed out");
        m.check_msg().unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    block!(m.disconnect());
    assert_stats(&emu);
}

/// What a streaming subscriber has put together: the payload so far, and whether the last
/// piece came.
#[derive(Default)]
struct Streamed {
    payload: Vec<u8>,
    complete: bool,
    subscribed: bool,
}

impl Streamed {
    fn record(&mut self, e: Event<'_>) {
        if let Event::Subscribed { .. } = e {
            self.subscribed = true;
        }
        if let Event::Chunk(c) = e {
            assert_eq!(c.topic.as_str(), "w5500/big");
            assert_eq!(c.total, TOTAL);
            assert_eq!(c.offset, self.payload.len(), "pieces arrive in order");
            assert!(c.data.len() <= 2048, "a piece larger than rx");
            self.payload.extend_from_slice(c.data);
            self.complete = c.is_last();
        }
    }
}

/// One message of 1 MiB, every byte different from its neighbours.
fn big_message() -> Vec<u8> {
    (0..TOTAL)
        .map(|i| (i.wrapping_mul(131) ^ (i >> 11)) as u8)
        .collect()
}

/// Publishes the 1 MiB message at QoS 1 from a plain TCP client, once `ready` says the
/// subscriber is subscribed.
fn publish_big(broker: &Broker) {
    let options = ConnectOptions::new("w5500-big-pub").unwrap();
    let client = Client::new(
        options,
        vec![0; 1024],
        vec![0; TOTAL + 64],
        vec![0; TOTAL + 1024],
    );
    let io = umqtt::TcpTransport::connect(broker.addr()).unwrap();
    let mut p = Blocking::new(client.unwrap(), io, StdClock::new(), |_| {});
    p.connect().unwrap();
    p.publish("w5500/big", big_message(), QoS::AtLeastOnce, false)
        .unwrap();
    p.wait_published().unwrap();
    p.disconnect().unwrap();
}

/// A streaming subscriber on the W5500 with a 2 KiB rx.
fn streaming_client(id: &str) -> Client<Vec<u8>> {
    let options = ConnectOptions::new(id)
        .unwrap()
        .keep_alive_secs(10)
        .stream_oversized(true);
    Client::new(options, vec![0; 2048], vec![0; 256], vec![0; 1024]).unwrap()
}

#[test]
fn a_one_mib_message_streams_into_a_2_kib_rx_blocking() {
    let broker = Broker::any(None);
    let emu = Emulator::new();
    let s = w5500_to_broker(&broker, &emu);
    let got = Rc::new(RefCell::new(Streamed::default()));
    let handled = got.clone();
    let handler = move |e: Event<'_>| handled.borrow_mut().record(e);
    let mut m = Blocking::new(
        streaming_client("w5500-big-blk"),
        s,
        StdClock::new(),
        handler,
    );
    m.connect().unwrap();
    m.subscribe("w5500/big", QoS::AtLeastOnce).unwrap();
    while !matches!(m.next_event().unwrap(), Event::Subscribed { .. }) {}
    let broker_addr = &broker;
    std::thread::scope(|t| {
        t.spawn(|| publish_big(broker_addr));
        let deadline = Instant::now() + Duration::from_secs(120);
        while !got.borrow().complete {
            assert!(Instant::now() < deadline, "timed out");
            m.wait_msg().unwrap();
        }
    });
    assert!(got.borrow().payload == big_message(), "the payload differs");
    m.disconnect().unwrap();
}

#[test]
fn a_one_mib_message_streams_into_a_2_kib_rx_nonblocking() {
    let broker = Broker::any(None);
    let emu = Emulator::new();
    let s = w5500_to_broker(&broker, &emu);
    let got = Rc::new(RefCell::new(Streamed::default()));
    let handled = got.clone();
    let handler = move |e: Event<'_>| handled.borrow_mut().record(e);
    let mut m = NonBlocking::new(
        streaming_client("w5500-big-nb"),
        s,
        StdClock::new(),
        handler,
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match m.connect() {
            Ok(_) => break,
            Err(nb::Error::WouldBlock) => std::thread::sleep(Duration::from_micros(200)),
            Err(nb::Error::Other(e)) => panic!("{e}"),
        }
    }
    nb::block!(m.subscribe("w5500/big", QoS::AtLeastOnce)).unwrap();
    while !got.borrow().subscribed {
        assert!(Instant::now() < deadline, "timed out");
        m.check_msg().unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    let broker_addr = &broker;
    std::thread::scope(|t| {
        t.spawn(|| publish_big(broker_addr));
        while !got.borrow().complete {
            assert!(Instant::now() < deadline, "timed out");
            m.check_msg().unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    assert!(got.borrow().payload == big_message(), "the payload differs");
    nb::block!(m.disconnect()).unwrap();
}

use umqtt_w5500_app as app;

/// Reads whole client packets from a socket, for the test's own tiny broker.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    fn next(&mut self) -> Vec<u8> {
        use umqtt::packet::{Sender, Status, decode_from};
        loop {
            if let Ok(Status::Complete { len, .. }) = decode_from(&self.buf, Sender::Client) {
                return self.buf.drain(..len).collect();
            }
            let mut chunk = [0u8; 1024];
            let n = self
                .stream
                .read(&mut chunk)
                .expect("the program closed the connection");
            assert!(n > 0, "the program closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn encode(p: &umqtt::packet::Packet<'_>) -> Vec<u8> {
    let mut v = vec![0; p.encoded_len()];
    p.encode(&mut v).unwrap();
    v
}

/// The W5500 program (the `umqtt-w5500-app` crate) with a window of 1: its second status publish
/// waits for the first PUBACK, which the broker withholds until a command it sends meanwhile
/// was acknowledged. The command must reach the program's callback exactly once (it used to
/// be acknowledged and dropped while a publish waited).
#[test]
fn the_w5500_program_gets_a_command_sent_while_a_publish_waits() {
    use umqtt::packet::{Connack, ConnectReturnCode, Packet, PacketId, Publish, QosPid, Suback};
    use umqtt::packet::{SubackCode, SubackCodes, decode};
    use umqtt::topic::TopicName;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let broker = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut r = Reader {
            stream,
            buf: Vec::new(),
        };
        let packet = |bytes: &[u8]| -> Packet<'static> {
            let bytes: &'static [u8] = Box::leak(bytes.to_vec().into_boxed_slice());
            match decode(bytes).unwrap() {
                umqtt::packet::Status::Complete { packet, .. } => packet,
                other => panic!("{other:?}"),
            }
        };
        assert!(matches!(packet(&r.next()), Packet::Connect(_)));
        let connack = Connack {
            session_present: false,
            code: ConnectReturnCode::Accepted,
        };
        out.write_all(&encode(&Packet::Connack(connack))).unwrap();
        let Packet::Subscribe(s) = packet(&r.next()) else {
            panic!("expected SUBSCRIBE")
        };
        let codes = [SubackCode::Success(QoS::AtLeastOnce)];
        let codes = SubackCodes::new(&codes).unwrap();
        let suback = Packet::Suback(Suback { pid: s.pid, codes });
        out.write_all(&encode(&suback)).unwrap();
        let Packet::Publish(first) = packet(&r.next()) else {
            panic!("expected the first status")
        };
        // The program's second status (1 s later) now waits for room in the window.
        std::thread::sleep(Duration::from_millis(1_500));
        let command = PacketId::new(77).unwrap();
        let cmd = Packet::Publish(Publish {
            dup: false,
            qos: QosPid::AtLeastOnce(command),
            retain: false,
            topic: TopicName::new("umqtt/w5500/led").unwrap(),
            payload: b"1",
        });
        out.write_all(&encode(&cmd)).unwrap();
        assert_eq!(
            packet(&r.next()),
            Packet::Puback(command),
            "the command is acknowledged while the publish waits"
        );
        out.write_all(&encode(&Packet::Puback(first.qos.pid().unwrap())))
            .unwrap();
        // The rest: acknowledge statuses until DISCONNECT.
        loop {
            match packet(&r.next()) {
                Packet::Publish(p) => {
                    let ack = Packet::Puback(p.qos.pid().unwrap());
                    out.write_all(&encode(&ack)).unwrap();
                }
                Packet::Disconnect => return,
                other => panic!("unexpected {other:?}"),
            }
        }
    });

    let settings = app::Settings {
        net: CONFIG,
        broker: ([127, 0, 0, 1], port),
        client_id: "w5500-window-1",
        status_topic: "umqtt/w5500/status",
        command_filter: "umqtt/w5500/led",
        max_inflight: 1,
        stop_after: Some(1),
    };
    // The program runs on its own thread: if a command were lost it would never stop.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut commands = Vec::new();
        let mut buffers = app::Buffers::new();
        let result = app::run(
            Emulator::new(),
            StdDelay,
            StdClock::new(),
            &settings,
            &mut buffers,
            |m| commands.push(m.payload.to_vec()),
        );
        let _ = done.send((result.map_err(|e| e.to_string()), commands));
    });
    let (result, commands) = finished
        .recv_timeout(Duration::from_secs(30))
        .expect("the program never stopped: the command did not reach it");
    result.unwrap();
    broker.join().unwrap();
    assert_eq!(commands, [b"1".to_vec()]);
}

/// The async W5500 program (`app::run_async`) against the broker: two statuses reach a
/// subscriber, which then sends "1" and "0"; both commands reach the program, which stops.
/// Returns the commands, the statuses seen, and the chip's SPI transactions per second.
fn async_program(id: &'static str, interrupt: bool) -> (Vec<Vec<u8>>, Vec<String>, f64) {
    let broker = Broker::any(None);
    let std::net::IpAddr::V4(ip) = broker.addr().ip() else {
        panic!("the broker listens on IPv4 loopback")
    };
    let status_topic: &'static str = Box::leak(format!("umqtt/{id}/status").into_boxed_str());
    let command_topic: &'static str = Box::leak(format!("umqtt/{id}/led").into_boxed_str());
    let settings = app::Settings {
        net: CONFIG,
        broker: (ip.octets(), broker.addr().port()),
        client_id: id,
        status_topic,
        command_filter: command_topic,
        max_inflight: 20,
        stop_after: Some(2),
    };
    let (mut commander, _) = Conn::connect(
        broker.addr(),
        ConnectOptions::new("commander").unwrap(),
        4096,
    )
    .unwrap();
    commander.subscribe(status_topic, QoS::AtLeastOnce).unwrap();

    let emu = Emulator::new();
    let chip = emu.clone();
    let (done, finished) = std::sync::mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let mut commands = Vec::new();
        let mut buffers = app::Buffers::new();
        let pin = interrupt.then(|| chip.int_pin());
        let result = rt.block_on(app::run_async(
            chip,
            umqtt::transport::tokio::TokioDelay,
            StdClock::new(),
            &settings,
            &mut buffers,
            pin,
            |m| commands.push(m.payload.to_vec()),
        ));
        let _ = done.send((result.map_err(|e| e.to_string()), commands));
    });
    let mut statuses = Vec::new();
    while statuses.len() < 2 {
        let m = commander.recv(Duration::from_secs(10)).unwrap();
        let m = m.expect("the program publishes a status every second");
        statuses.push(String::from_utf8(m.payload).unwrap());
    }
    for command in [b"1", b"0"] {
        commander
            .publish(command_topic, command, QoS::AtLeastOnce, false)
            .unwrap();
    }
    let (result, commands) = finished
        .recv_timeout(Duration::from_secs(30))
        .expect("the program never stopped: a command did not reach it");
    result.unwrap();
    let rate = emu.transactions() as f64 / start.elapsed().as_secs_f64();
    commander.disconnect().unwrap();
    (commands, statuses, rate)
}

#[test]
fn the_async_w5500_program_sleeps_on_intn_instead_of_polling() {
    let (commands, statuses, by_interrupt) = async_program("w5500-async-int", true);
    assert_eq!(commands, [b"1".to_vec(), b"0".to_vec()]);
    assert!(
        statuses[0].starts_with("{\"count\":0,\"uptime_ms\":"),
        "{statuses:?}"
    );
    assert!(statuses[1].starts_with("{\"count\":1,"), "{statuses:?}");

    let (commands, _, by_polling) = async_program("w5500-async-poll", false);
    assert_eq!(commands, [b"1".to_vec(), b"0".to_vec()]);
    println!(
        "async W5500 program, SPI transactions per second: polling {by_polling:.0}, \
         interrupt {by_interrupt:.0} ({:.1}x fewer)",
        by_polling / by_interrupt
    );
    assert!(
        by_interrupt * 10.0 < by_polling,
        "INTn must replace polling: {by_interrupt:.0}/s vs {by_polling:.0}/s"
    );
}

/// The async driver over the async socket in interrupt mode: 1 MiB each way (256 messages of
/// 4 KiB at QoS 1: 13× the window, 2 KiB chip buffers), every byte checked.
#[test]
fn mqtt_through_the_w5500_one_mib_each_way_async_on_intn() {
    use umqtt::transport::tokio::TokioDelay;
    use w5500_io::{AsyncTcpSocket, AsyncW5500};
    let broker = Broker::any(None);
    let emu = Emulator::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = AsyncW5500::new(emu.clone());
        c.init(&CONFIG, &mut TokioDelay).await.unwrap();
        c.set_buffer_kib(0, 2, 2).await.unwrap();
        let mut s = AsyncTcpSocket::new(c, 0, TokioDelay, Timeouts::default())
            .unwrap()
            .with_interrupt(emu.int_pin());
        let std::net::IpAddr::V4(ip) = broker.addr().ip() else {
            panic!("the broker listens on IPv4 loopback")
        };
        s.connect(ip.octets(), broker.addr().port()).await.unwrap();
        let n = TOTAL / MESSAGE;
        let seen = Seen::new(n);
        let handled = seen.clone();
        let handler = move |e: Event<'_>| handled.borrow_mut().record(e);
        let client = mqtt_client("w5500-async");
        let mut m = umqtt::Async::new(client, s, StdClock::new(), TokioDelay, handler);
        m.connect().await.unwrap();
        m.subscribe("w5500/echo-async", QoS::AtLeastOnce)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        for next in 0..n {
            assert!(Instant::now() < deadline, "timed out at {next}");
            m.publish("w5500/echo-async", message(next), QoS::AtLeastOnce, false)
                .await
                .unwrap();
        }
        m.wait_published().await.unwrap();
        while !seen.borrow().all() {
            assert!(Instant::now() < deadline, "timed out");
            let e = m.next_event().await.unwrap();
            seen.borrow_mut().record(e);
        }
        m.disconnect().await.unwrap();
        let (_, mut s, _, _, _) = m.into_parts();
        s.disconnect().await.unwrap();
    });
    assert_stats(&emu);
}
