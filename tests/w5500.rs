//! The W5500 adapter over the W5500 emulator: bring-up, bounded waits, end of stream,
//! back-pressure, pointer wrap-around, and MQTT through it against a real broker (mosquitto
//! in CI) with 1 MiB each way, every byte checked.

mod live;

use std::cell::RefCell;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use embedded_io::{Read, ReadReady, Write};
use live::*;
use umqtt::adapters::w5500::emulator::Emulator;
use umqtt::adapters::w5500::regs::{COMMON, IR_DISCON, SIPR, SN_IR, SR_CLOSE_WAIT, socket_regs};
use umqtt::adapters::w5500::{NetConfig, TcpSocket, Timeouts, W5500, W5500Error};
use umqtt::packet::QoS;
use umqtt::time::{StdClock, StdDelay};
use umqtt::{Blocking, Client, ConnectOptions, Event, NonBlocking};

const CONFIG: NetConfig = NetConfig {
    mac: [0x02, 0x00, 0x00, 0x00, 0x55, 0x00],
    ip: [127, 0, 0, 2],
    gateway: [127, 0, 0, 1],
    subnet: [255, 0, 0, 0],
};

type Socket = TcpSocket<Emulator, StdDelay>;

fn chip(emu: &Emulator) -> W5500<Emulator> {
    let mut chip = W5500::new(emu.clone());
    chip.init(&CONFIG, &mut StdDelay).unwrap();
    chip
}

fn socket(emu: &Emulator, timeouts: Timeouts) -> Socket {
    TcpSocket::new(chip(emu), 0, StdDelay, timeouts).unwrap()
}

fn ip_port(addr: std::net::SocketAddr) -> ([u8; 4], u16) {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => (ip.octets(), addr.port()),
        ip => panic!("not IPv4: {ip}"),
    }
}

/// A local TCP listener and socket 0 of `emu` connected to it (the peer is still to accept).
fn connected(emu: &Emulator, timeouts: Timeouts) -> (Socket, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (ip, port) = ip_port(listener.local_addr().unwrap());
    let mut s = socket(emu, timeouts);
    s.connect(ip, port).unwrap();
    (s, listener)
}

/// Deterministic bytes: every position differs from its neighbours and from other runs.
fn pattern(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn bring_up_checks_the_version_and_writes_the_addresses() {
    let emu = Emulator::new();
    let mut c = chip(&emu);
    let mut ip = [0u8; 4];
    c.read(COMMON, SIPR, &mut ip).unwrap();
    assert_eq!(ip, CONFIG.ip);
    assert!(c.link_up().unwrap());

    emu.set_version(0xFF);
    let e = W5500::new(emu.clone())
        .init(&CONFIG, &mut StdDelay)
        .unwrap_err();
    assert_eq!(e, W5500Error::Version(0xFF));
}

#[test]
fn link_down_is_an_error_after_a_bounded_wait() {
    let emu = Emulator::new();
    let mut c = chip(&emu);
    emu.set_link(false);
    let t = Instant::now();
    assert_eq!(c.wait_link(&mut StdDelay, 50), Err(W5500Error::LinkDown));
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn invalid_socket_number_and_buffer_size_are_rejected() {
    let emu = Emulator::new();
    assert!(matches!(
        TcpSocket::new(chip(&emu), 8, StdDelay, Timeouts::default()),
        Err(W5500Error::InvalidArgument)
    ));
    assert_eq!(
        chip(&emu).set_buffer_kib(0, 3, 2),
        Err(W5500Error::InvalidArgument)
    );
}

#[test]
fn a_refused_connect_is_an_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = socket(&Emulator::new(), Timeouts::default());
    let t = Instant::now();
    assert_eq!(
        s.connect([127, 0, 0, 1], port),
        Err(W5500Error::ConnectFailed)
    );
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_connect_that_is_never_answered_times_out() {
    let timeouts = Timeouts {
        connect_ms: 300,
        ..Timeouts::default()
    };
    let mut s = socket(&Emulator::new(), timeouts);
    let t = Instant::now();
    assert_eq!(
        s.connect([192, 0, 2, 1], 1883),
        Err(W5500Error::ConnectTimeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_read_with_no_data_times_out_as_timed_out() {
    let (mut s, listener) = connected(&Emulator::new(), Timeouts::default());
    let _peer = listener.accept().unwrap();
    let mut buf = [0u8; 16];
    assert!(!s.read_ready().unwrap());
    let e = s.read(&mut buf).unwrap_err();
    assert_eq!(e, W5500Error::ReadTimeout);
    assert_eq!(
        embedded_io::Error::kind(&e),
        embedded_io::ErrorKind::TimedOut
    );
}

/// The peer sends 40 KiB and closes: the 2 KiB RX buffer fills again and again (back-pressure,
/// nothing dropped), every byte arrives, then end of stream (CLOSE_WAIT and the DISCON
/// interrupt, as on the chip).
#[test]
fn peer_close_is_end_of_stream_after_all_its_data() {
    let emu = Emulator::new();
    let (mut s, listener) = connected(&emu, Timeouts::default());
    let sent = pattern(7, 40 * 1024);
    let (mut peer, _) = listener.accept().unwrap();
    peer.write_all(&sent).unwrap();
    drop(peer);
    // Let the host socket fill up before reading anything.
    std::thread::sleep(Duration::from_millis(100));
    let mut got = Vec::new();
    let mut buf = [0u8; 1500];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(W5500Error::ReadTimeout) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "bytes differ");
    assert_eq!(s.status().unwrap(), SR_CLOSE_WAIT);
    let ir = s.chip().read_u8(socket_regs(0), SN_IR).unwrap();
    assert_ne!(ir & IR_DISCON, 0, "DISCON interrupt not raised");
    assert!(emu.stats(0).rx_full > 0, "the RX buffer never filled");
    s.disconnect().unwrap();
}

/// 320 KiB through a TCP echo server: the 16-bit pointers wrap several times each way.
#[test]
fn echo_across_pointer_wrap_around() {
    let emu = Emulator::new();
    let (mut s, listener) = connected(&emu, Timeouts::default());
    std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match peer.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if peer.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let sent = pattern(11, 320 * 1024);
    let mut got = Vec::with_capacity(sent.len());
    let mut at = 0;
    let mut buf = [0u8; 3000];
    while got.len() < sent.len() {
        if at < sent.len() {
            let end = (at + 1000).min(sent.len());
            at += s.write(&sent[at..end]).unwrap();
        }
        while got.len() < at && s.read_ready().unwrap() {
            let n = s.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        if at == sent.len() && got.len() < sent.len() {
            let n = s.read(&mut buf).unwrap_or(0);
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert!(got == sent, "echoed bytes differ");
    let stats = emu.stats(0);
    assert!(stats.tx_wraps >= 4 && stats.rx_wraps >= 4, "{stats:?}");
    s.disconnect().unwrap();
}

/// A send into a connection the network cut is an error, not a hang.
#[test]
fn writes_after_a_cut_fail() {
    let emu = Emulator::new();
    let (mut s, listener) = connected(&emu, Timeouts::default());
    let _peer: TcpStream = listener.accept().unwrap().0;
    emu.cut(0);
    assert_eq!(s.write(b"hello"), Err(W5500Error::Closed));
    assert_eq!(s.read(&mut [0u8; 4]), Err(W5500Error::Closed));
}

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

fn message(seq: usize) -> Vec<u8> {
    let mut m = pattern(seq as u32 + 1, MESSAGE);
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
    let mut c = chip(emu);
    // 16 KiB each way for socket 0 would be faster; 2 KiB (the reset value) makes the
    // back-pressure and wrap-around paths work hard.
    c.set_buffer_kib(0, 2, 2).unwrap();
    let mut s = TcpSocket::new(c, 0, StdDelay, Timeouts::default()).unwrap();
    let (ip, port) = ip_port(broker.addr());
    s.connect(ip, port).unwrap();
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

/// The emulator takes a transaction's operations as one byte stream, whatever their kind or
/// split: the header may span operations, and Transfer / TransferInPlace work like on a bus.
#[test]
fn spi_frames_are_one_byte_stream_across_operations() {
    use embedded_hal::spi::{Operation, SpiDevice};
    use umqtt::adapters::w5500::regs::{GAR, VERSIONR, control};
    let mut emu = Emulator::new();
    // VERSIONR with the header split over two writes, read back through TransferInPlace.
    let [hi, lo] = VERSIONR.to_be_bytes();
    let mut data = [0xAAu8; 1];
    emu.transaction(&mut [
        Operation::Write(&[hi]),
        Operation::Write(&[lo, control(COMMON, false)]),
        Operation::TransferInPlace(&mut data),
    ])
    .unwrap();
    assert_eq!(data, [0x04]);
    // A write of GAR through Transfer (MISO ignored), then a full-duplex read of it.
    let [hi, lo] = GAR.to_be_bytes();
    let mut miso = [0u8; 7];
    emu.transaction(&mut [Operation::Transfer(
        &mut miso,
        &[hi, lo, control(COMMON, true), 10, 0, 0, 1],
    )])
    .unwrap();
    let mut got = [0u8; 7];
    emu.transaction(&mut [Operation::Transfer(
        &mut got,
        &[hi, lo, control(COMMON, false), 0, 0, 0, 0],
    )])
    .unwrap();
    assert_eq!(got[3..], [10, 0, 0, 1]);
}

#[path = "../firmware/src/app.rs"]
#[allow(dead_code)]
mod app;

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

/// The W5500 program (firmware/src/app.rs) with a window of 1: its second status publish
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
