//! The library's log records (feature `log`; defmt gets the same records): connect,
//! refusal, protocol close, lost connection and reconnect, against mosquitto and a
//! misbehaving TCP peer on real sockets; none per message, never the password. One test:
//! the logger is global.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Mutex;

use support::broker::Broker;
use umqtt::driver::time::{StdClock, StdDelay};
use umqtt::transport::tcp::TcpTransport;
use umqtt::{Backoff, Blocking, BrokerError, Client, ConnectOptions, Error, Event};

/// Every record of target "umqtt", as "LEVEL message".
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "umqtt"
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let line = format!("{} {}", r.level(), r.args());
            self.0.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

static LOGGER: Capture = Capture(Mutex::new(Vec::new()));

/// The records since the last call.
fn records() -> Vec<String> {
    std::mem::take(&mut *LOGGER.0.lock().unwrap())
}

fn has(records: &[String], want: &str) -> bool {
    records.iter().any(|r| r.starts_with(want))
}

fn client(id: &str, password: &[u8]) -> Client<Vec<u8>> {
    let options = ConnectOptions::new(id)
        .unwrap()
        .credentials("alice", Some(password))
        .unwrap();
    Client::new(options, vec![0; 1024], vec![0; 1024], vec![0; 1024]).unwrap()
}

#[test]
fn connect_refusal_protocol_close_and_reconnect_are_logged() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let broker = Broker::any(Some(("alice", "secret")));

    // Connected: a routine CONNECT, then what the session came to.
    let io = TcpTransport::connect(broker.addr()).unwrap();
    let mut mqtt = Blocking::new(client("log-ok", b"secret"), io, StdClock::new(), |_| {});
    mqtt.connect().unwrap();
    let r = records();
    assert!(
        has(
            &r,
            "DEBUG CONNECT queued (keep-alive 60 s, clean session true)"
        ),
        "{r:?}"
    );
    assert!(
        has(&r, "INFO connected (session present false): 0 to resend"),
        "{r:?}"
    );
    mqtt.disconnect().unwrap();

    // Refused: the return code.
    let io = TcpTransport::connect(broker.addr()).unwrap();
    let mut mqtt = Blocking::new(client("log-bad", b"wrong"), io, StdClock::new(), |_| {});
    let e = mqtt.connect().unwrap_err();
    assert!(matches!(e, Error::Broker(BrokerError::Refused(_))), "{e:?}");
    let r = records();
    assert!(has(&r, "WARN connection refused: NotAuthorized"), "{r:?}");

    // A peer that answers CONNECT with CONNACK, then a packet of the reserved type 0:
    // the client closes, and says why.
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = peer.local_addr().unwrap();
    let script = std::thread::spawn(move || {
        let (mut s, _) = peer.accept().unwrap();
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf).unwrap();
        s.write_all(&[0x20, 0x02, 0x00, 0x00, 0x00, 0x00]).unwrap();
        let _ = s.read(&mut buf); // until the client closes
    });
    let io = TcpTransport::connect(addr).unwrap();
    let mut mqtt = Blocking::new(client("log-proto", b"x"), io, StdClock::new(), |_| {});
    mqtt.connect().unwrap();
    let e = loop {
        match mqtt.next_event() {
            Ok(Event::Connected { .. }) => {}
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => break e,
        }
    };
    drop(mqtt);
    script.join().unwrap();
    let r = records();
    assert!(
        has(&r, &format!("WARN closing the connection: {e:?}")),
        "{e:?} {r:?}"
    );

    // A session resumed with a message to resend, then one the broker did not keep.
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = peer.local_addr().unwrap();
    let script = std::thread::spawn(move || {
        for session_present in [0u8, 1, 0] {
            let (mut s, _) = peer.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).unwrap(); // CONNECT
            s.write_all(&[0x20, 0x02, session_present, 0x00]).unwrap();
            let _ = s.read(&mut buf); // the PUBLISH (never acknowledged), or the client's close
        }
    });
    let options = ConnectOptions::new("log-session")
        .unwrap()
        .clean_session(false);
    let kept = Client::new(options, vec![0; 1024], vec![0; 1024], vec![0; 1024]).unwrap();
    let io = TcpTransport::connect(addr).unwrap();
    let mut mqtt = Blocking::new(kept, io, StdClock::new(), |_| {});
    mqtt.connect().unwrap();
    mqtt.publish("log/session", b"kept?", umqtt::QoS::AtLeastOnce, false)
        .unwrap();
    for _ in 0..2 {
        mqtt.replace_transport(TcpTransport::connect(addr).unwrap());
        mqtt.connect().unwrap();
    }
    drop(mqtt);
    script.join().unwrap();
    let r = records();
    assert!(
        has(&r, "INFO connected (session present true): 1 to resend"),
        "{r:?}"
    );
    assert!(
        has(&r, "WARN the broker kept no session: 1 operations lost"),
        "{r:?}"
    );

    // The broker goes away: the lost connection, then each failed reconnect attempt.
    let io = TcpTransport::connect(broker.addr()).unwrap();
    let mut mqtt = Blocking::new(client("log-lost", b"secret"), io, StdClock::new(), |_| {});
    mqtt.connect().unwrap();
    let addr = broker.addr();
    drop(broker);
    let e = loop {
        if let Err(e) = mqtt.next_event() {
            break e;
        }
    };
    assert!(matches!(e, Error::Io(_) | Error::Link(_)), "{e:?}");
    let mut backoff = Backoff::new(10, 20).max_attempts(2);
    let e = mqtt
        .reconnect(|_| TcpTransport::connect(addr), &mut backoff, &mut StdDelay)
        .unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e:?}");
    let r = records();
    assert!(
        has(&r, "WARN connection lost (the session is kept)"),
        "{r:?}"
    );
    // Each record says why the attempt failed.
    assert!(
        has(
            &r,
            "INFO reconnect attempt 0 failed (Io(ConnectionRefused)); next in"
        ),
        "{r:?}"
    );
    assert!(
        has(
            &r,
            "WARN reconnect attempt 1 failed (Io(ConnectionRefused)); giving up"
        ),
        "{r:?}"
    );

    // 200 messages each way: no record per message, and never the password.
    let broker = Broker::any(Some(("alice", "secret")));
    let io = TcpTransport::connect(broker.addr()).unwrap();
    let got = std::cell::Cell::new(0);
    let count = |e: Event<'_>| {
        if let Event::Message(_) = e {
            got.set(got.get() + 1);
        }
    };
    let mut mqtt = Blocking::new(client("log-quiet", b"secret"), io, StdClock::new(), count);
    mqtt.connect().unwrap();
    mqtt.subscribe("log/quiet", umqtt::QoS::AtLeastOnce)
        .unwrap();
    for i in 0..200u32 {
        mqtt.publish("log/quiet", i.to_be_bytes(), umqtt::QoS::AtLeastOnce, false)
            .unwrap();
    }
    while got.get() < 200 {
        mqtt.wait_msg().unwrap(); // messages go to the handler, while publishing too
    }
    mqtt.disconnect().unwrap();
    let r = records();
    assert!(r.len() < 10, "records per message: {r:?}");
    assert!(!r.iter().any(|l| l.contains("secret")), "{r:?}");
}
