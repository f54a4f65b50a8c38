//! The umqtt CLI example (`examples/umqtt.rs`) as a program, against a scripted TCP broker:
//! a std listener on loopback that reads the client's packets and answers with exact bytes.
//!
//! `sub -C COUNT` acknowledges only what it prints (a message past the count is not taken:
//! no PUBACK / PUBREC, even when it came in the same TCP read as the last one printed), and a
//! refused subscription is an error that names the filter, after a DISCONNECT.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use umqtt::packet::{Packet, Status, decode};

/// How long any step may take before the test fails (instead of hanging).
const PATIENCE: Duration = Duration::from_secs(20);

/// The example's binary, built once (`cargo test --test cli` does not build examples).
fn cli() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--example", "umqtt"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --example umqtt");
        assert!(status.success(), "cargo build --example umqtt failed");
        // This test runs from <target>/<profile>/deps; the example is in <profile>/examples.
        let exe = std::env::current_exe().expect("the test's path");
        let profile = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("profile dir");
        let bin = profile
            .join("examples")
            .join(format!("umqtt{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} not built", bin.display());
        bin
    })
}

/// The broker's end of one connection: reads the client's packets whole.
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    /// Waits for the client started with `child` to connect to `listener`.
    fn accept(listener: &TcpListener, child: &mut Child) -> Peer {
        listener.set_nonblocking(true).expect("nonblocking");
        let start = Instant::now();
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).expect("blocking");
                    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
                    return Peer {
                        stream,
                        buf: Vec::new(),
                    };
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept: {e}"),
            }
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!("the CLI exited ({status}) without connecting");
            }
            assert!(start.elapsed() < PATIENCE, "the CLI never connected");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The client's next packet (raw bytes), or `None` once it closed the connection.
    fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            match decode(&self.buf) {
                Ok(Status::Complete { len, .. }) => return Some(self.buf.drain(..len).collect()),
                Ok(Status::Partial { .. }) => {}
                Err(e) => panic!(
                    "the client sent a malformed packet {:02x?}: {e:?}",
                    self.buf
                ),
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    assert!(self.buf.is_empty(), "half a packet: {:02x?}", self.buf);
                    return None;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                // A reset after the client's last packet is an end too.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading the client: {e}"),
            }
        }
    }

    /// The client's next packet, which must be there, described.
    fn expect(&mut self) -> (String, Vec<u8>) {
        let bytes = self.next().expect("the client closed the connection early");
        (describe(&bytes), bytes)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the client");
    }

    /// Reads until the client closes, answering PUBREC with PUBREL and PINGREQ with PINGRESP
    /// as a broker does; returns what it sent, described.
    fn rest(&mut self) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(bytes) = self.next() {
            match decode(&bytes) {
                Ok(Status::Complete {
                    packet: Packet::Pubrec(pid),
                    ..
                }) => {
                    let [hi, lo] = pid.get().to_be_bytes();
                    // A write after the client closed may fail: it is not what is checked.
                    let _ = self.stream.write_all(&[0x62, 0x02, hi, lo]);
                }
                Ok(Status::Complete {
                    packet: Packet::Pingreq,
                    ..
                }) => {
                    let _ = self.stream.write_all(&[0xd0, 0x00]);
                }
                _ => {}
            }
            seen.push(describe(&bytes));
        }
        seen
    }
}

/// A client packet in words ("PUBREC 2", "SUBSCRIBE 1 t:2", "DISCONNECT").
fn describe(bytes: &[u8]) -> String {
    let Ok(Status::Complete { packet, .. }) = decode(bytes) else {
        return format!("undecodable {bytes:02x?}");
    };
    match packet {
        Packet::Connect(c) => format!("CONNECT {}", c.client_id),
        Packet::Publish(p) => format!("PUBLISH {} {:?}", p.topic, p.qos),
        Packet::Puback(pid) => format!("PUBACK {pid}"),
        Packet::Pubrec(pid) => format!("PUBREC {pid}"),
        Packet::Pubrel(pid) => format!("PUBREL {pid}"),
        Packet::Pubcomp(pid) => format!("PUBCOMP {pid}"),
        Packet::Subscribe(s) => {
            let filters: Vec<String> = s
                .filters
                .iter()
                .map(|f| format!("{}:{}", f.filter, f.qos.bits()))
                .collect();
            format!("SUBSCRIBE {} {}", s.pid, filters.join(" "))
        }
        Packet::Unsubscribe(u) => format!("UNSUBSCRIBE {}", u.pid),
        Packet::Pingreq => "PINGREQ".into(),
        Packet::Disconnect => "DISCONNECT".into(),
        other => format!("{other:?}"),
    }
}

/// The packet identifier of a SUBSCRIBE, for its SUBACK.
fn subscribe_pid(bytes: &[u8]) -> [u8; 2] {
    match decode(bytes) {
        Ok(Status::Complete {
            packet: Packet::Subscribe(s),
            ..
        }) => s.pid.get().to_be_bytes(),
        _ => panic!("expected SUBSCRIBE, got {}", describe(bytes)),
    }
}

/// A PUBLISH to `topic` at QoS 1 or 2 with packet identifier `pid`.
fn publish(qos: u8, pid: u16, topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16::try_from(topic.len()).unwrap().to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(&pid.to_be_bytes());
    body.extend_from_slice(payload);
    let mut packet = vec![0x30 | (qos << 1), u8::try_from(body.len()).unwrap()];
    packet.extend_from_slice(&body);
    packet
}

/// A SUBACK answering `pid` with `codes`.
fn suback(pid: [u8; 2], codes: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x90, u8::try_from(2 + codes.len()).unwrap(), pid[0], pid[1]];
    packet.extend_from_slice(codes);
    packet
}

const CONNACK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

/// A listener on a free loopback port and the CLI started against it with `args`.
fn start(args: &[&str]) -> (TcpListener, Child) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let child = Command::new(cli())
        .args(["sub", "-h", "127.0.0.1", "-p", &port])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the CLI");
    (listener, child)
}

/// The CLI's exit status and output, once it has exited (killed if it does not).
fn finish(mut child: Child) -> Output {
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the CLI did not exit; stdout {:?}, stderr {:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

/// Connects the CLI (CONNECT, CONNACK) and returns its SUBSCRIBE.
fn connect(listener: &TcpListener, child: &mut Child) -> (Peer, Vec<u8>) {
    let mut peer = Peer::accept(listener, child);
    let (what, _) = peer.expect();
    assert!(what.starts_with("CONNECT "), "expected CONNECT, got {what}");
    peer.send(&CONNACK);
    let (what, subscribe) = peer.expect();
    assert!(
        what.starts_with("SUBSCRIBE "),
        "expected SUBSCRIBE, got {what}"
    );
    (peer, subscribe)
}

/// What the CLI printed and what the broker got after its SUBSCRIBE, for the assertion
/// messages.
fn report(out: &Output, after: &[String]) -> String {
    format!(
        "status {}, stdout {:?}, stderr {:?}, the broker got {after:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `sub -C 1 -q 2`: the SUBACK and two QoS 2 messages arrive in one write. One is printed;
/// the other is never acknowledged (no PUBREC 2): the broker keeps it. The printed one's
/// exchange completes (PUBREC 1, PUBREL 1, PUBCOMP 1), then DISCONNECT, exit 0.
#[test]
fn count_reached_leaves_the_message_read_with_it_unacknowledged() {
    let (listener, mut child) = start(&["-C", "1", "-q", "2", "-t", "t"]);
    let (mut peer, subscribe) = connect(&listener, &mut child);
    assert_eq!(describe(&subscribe), "SUBSCRIBE 1 t:2");
    let mut burst = suback(subscribe_pid(&subscribe), &[2]);
    burst.extend(publish(2, 1, "t", b"one"));
    burst.extend(publish(2, 2, "t", b"two"));
    peer.send(&burst);
    let after = peer.rest();
    let out = finish(child);
    let report = report(&out, &after);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n", "{report}");
    assert!(!after.iter().any(|p| p == "PUBREC 2"), "{report}");
    assert_eq!(
        after,
        ["PUBREC 1", "PUBCOMP 1", "DISCONNECT"],
        "the printed message completes, then DISCONNECT: {report}"
    );
    assert!(out.status.success(), "{report}");
}

/// The same with the broker's bytes trickling in one at a time: a fixed header split across
/// reads changes nothing.
#[test]
fn count_reached_with_the_bytes_trickling_in() {
    let (listener, mut child) = start(&["-C", "1", "-q", "2", "-t", "t"]);
    let (mut peer, subscribe) = connect(&listener, &mut child);
    peer.stream.set_nodelay(true).expect("nodelay");
    let mut burst = suback(subscribe_pid(&subscribe), &[2]);
    burst.extend(publish(2, 1, "t", b"one"));
    burst.extend(publish(2, 2, "t", b"two"));
    for byte in burst {
        peer.send(&[byte]);
        std::thread::sleep(Duration::from_millis(2));
    }
    let after = peer.rest();
    let out = finish(child);
    let report = report(&out, &after);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n", "{report}");
    assert_eq!(after, ["PUBREC 1", "PUBCOMP 1", "DISCONNECT"], "{report}");
    assert!(out.status.success(), "{report}");
}

/// `sub -C 1 -q 2`: a second message that arrives while the CLI disconnects (after the
/// broker saw the first one's PUBREC, before its PUBREL) is not acknowledged either.
#[test]
fn count_reached_takes_no_message_while_disconnecting() {
    let (listener, mut child) = start(&["-C", "1", "-q", "2", "-t", "t"]);
    let (mut peer, subscribe) = connect(&listener, &mut child);
    let mut burst = suback(subscribe_pid(&subscribe), &[2]);
    burst.extend(publish(2, 1, "t", b"one"));
    peer.send(&burst);
    let (what, _) = peer.expect();
    assert_eq!(what, "PUBREC 1");
    // The next message before the PUBREL: the CLI is draining its disconnect by now.
    let mut late = publish(2, 2, "t", b"two");
    late.extend_from_slice(&[0x62, 0x02, 0x00, 0x01]); // PUBREL 1
    peer.send(&late);
    let after = peer.rest();
    let out = finish(child);
    let report = report(&out, &after);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n", "{report}");
    assert_eq!(after, ["PUBCOMP 1", "DISCONNECT"], "{report}");
    assert!(out.status.success(), "{report}");
}

/// `sub -C 0` subscribes and leaves: it waits for the SUBACK, and a message the broker sends
/// first (queued for a persistent session) is not taken (no PUBACK).
#[test]
fn count_zero_subscribes_and_takes_nothing() {
    let (listener, mut child) = start(&["-C", "0", "-q", "1", "-c", "-i", "keep", "-t", "t"]);
    let (mut peer, subscribe) = connect(&listener, &mut child);
    let mut burst = publish(1, 7, "t", b"queued");
    burst.extend(suback(subscribe_pid(&subscribe), &[1]));
    peer.send(&burst);
    let after = peer.rest();
    let out = finish(child);
    let report = report(&out, &after);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{report}");
    assert_eq!(after, ["DISCONNECT"], "{report}");
    assert!(out.status.success(), "{report}");
}

/// A SUBACK that refuses a filter (0x80): the CLI says which, sends DISCONNECT and exits 1.
#[test]
fn refused_subscription_names_the_filter_disconnects_and_fails() {
    let (listener, mut child) = start(&["-q", "1", "-t", "ok/#", "-t", "forbidden/#"]);
    let (mut peer, subscribe) = connect(&listener, &mut child);
    assert_eq!(describe(&subscribe), "SUBSCRIBE 1 ok/#:1 forbidden/#:1");
    peer.send(&suback(subscribe_pid(&subscribe), &[0x01, 0x80]));
    let after = peer.rest();
    let out = finish(child);
    let report = report(&out, &after);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("forbidden/#"), "{report}");
    assert!(
        !stderr.contains("ok/#"),
        "only the refused filter is named: {report}"
    );
    assert_eq!(after, ["DISCONNECT"], "{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
}

/// Every filter refused: the same, and no message is taken while the CLI leaves.
#[test]
fn all_subscriptions_refused_takes_no_message() {
    let (listener, mut child) = start(&["-q", "1", "-t", "a", "-t", "b"]);
    let (mut peer, subscribe) = connect(&listener, &mut child);
    let mut burst = suback(subscribe_pid(&subscribe), &[0x80, 0x80]);
    burst.extend(publish(1, 3, "a", b"stray"));
    peer.send(&burst);
    let after = peer.rest();
    let out = finish(child);
    let report = report(&out, &after);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"a\"") && stderr.contains("\"b\""),
        "{report}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{report}");
    assert_eq!(after, ["DISCONNECT"], "{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
}
