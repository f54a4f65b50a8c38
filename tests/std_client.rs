//! `StdClient`, the std client that keeps its connection up, against a real broker (mosquitto
//! in CI) on real sockets: 2,000 messages (past the in-flight window of 20) through a proxy
//! that cuts the link 20 times, a subscription restored after every new session, messages a
//! new session lost published again; a refused password and an unreachable broker (past the
//! reconnect attempt limit) as typed errors.

mod support;

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::broker::Broker;
use support::proxy::CutProxy;
use umqtt::packet::ConnectReturnCode;
use umqtt::{Backoff, BrokerError, ConnectOptions, Error, Event, QoS, StdClient};

const MESSAGES: u32 = 2_000;
const CUTS: u32 = 20;

/// Ends the test process if a test hangs (a missing message would otherwise wait forever).
fn watchdog(limit: Duration) {
    thread::spawn(move || {
        thread::sleep(limit);
        eprintln!("std_client: no result after {limit:?}");
        std::process::abort();
    });
}

#[test]
fn two_thousand_messages_across_twenty_cuts_reach_the_callbacks() {
    watchdog(Duration::from_secs(240));
    let broker = Broker::any(None);

    // The subscriber: a persistent session, connected directly, one callback per filter.
    let got: Arc<Mutex<HashSet<u32>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let options = ConnectOptions::new("sc-sub").unwrap().clean_session(false);
    let mut sub = StdClient::connect(broker.addr().to_string(), options).unwrap();
    let g = got.clone();
    sub.on("sc/data/+", QoS::ExactlyOnce, move |m| {
        let n = std::str::from_utf8(m.payload)
            .unwrap()
            .parse::<u32>()
            .unwrap();
        g.lock().unwrap().insert(n);
    })
    .unwrap();
    let d = done.clone();
    sub.on("sc/done", QoS::AtLeastOnce, move |_| {
        d.store(true, Ordering::SeqCst)
    })
    .unwrap();
    // Both subscriptions exist before the first message is published.
    let subscribed = Arc::new(Mutex::new(0));
    let s = subscribed.clone();
    sub.on_event(move |event| {
        if let Event::Subscribed { .. } = event {
            *s.lock().unwrap() += 1;
        }
    });
    while *subscribed.lock().unwrap() < 2 {
        sub.wait_msg().unwrap();
    }
    let subscriber = thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            sub.wait_msg().unwrap();
        }
        sub.disconnect().unwrap();
    });

    // The publisher: a clean session (each cut loses its unacknowledged messages, which it
    // publishes again) through the proxy, with a subscription it must restore every time.
    let proxy = CutProxy::start(broker.addr());
    let mut publisher = StdClient::connect(
        proxy.addr.to_string(),
        ConnectOptions::new("sc-pub").unwrap(),
    )
    .unwrap();
    let echoed = Arc::new(AtomicBool::new(false));
    let e = echoed.clone();
    publisher
        .on("sc/echo", QoS::AtLeastOnce, move |_| {
            e.store(true, Ordering::SeqCst)
        })
        .unwrap();
    let connects = Arc::new(Mutex::new(Vec::new()));
    let c = connects.clone();
    publisher.on_event(move |event| {
        if let Event::Connected { session_present } = event {
            c.lock().unwrap().push(session_present);
        }
    });
    for n in 0..MESSAGES {
        if n % (MESSAGES / CUTS) == MESSAGES / CUTS / 2 {
            proxy.cut();
        }
        let qos = if n % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        let topic = format!("sc/data/{}", n % 7);
        publisher
            .publish(&topic, n.to_string(), qos, false)
            .unwrap_or_else(|e| panic!("publish {n}: {e}"));
    }
    publisher.wait_published().unwrap();
    // The subscription made before the cuts works on the last connection.
    publisher
        .publish("sc/echo", "ping", QoS::AtLeastOnce, false)
        .unwrap();
    while !echoed.load(Ordering::SeqCst) {
        publisher.wait_msg().unwrap();
    }
    publisher
        .publish("sc/done", "", QoS::AtLeastOnce, false)
        .unwrap();
    publisher.wait_published().unwrap();
    publisher.disconnect().unwrap();
    subscriber.join().unwrap();

    let got = got.lock().unwrap();
    let missing: Vec<u32> = (0..MESSAGES).filter(|n| !got.contains(n)).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    let connects = connects.lock().unwrap();
    assert!(
        connects.len() >= CUTS as usize,
        "the publisher reconnected {} times for {CUTS} cuts",
        connects.len()
    );
    assert!(
        connects.iter().all(|present| !present),
        "a clean session is never resumed"
    );
    assert!(proxy.accepted() > CUTS as usize);
}

#[test]
fn a_wrong_password_is_a_refusal_and_nothing_is_retried() {
    watchdog(Duration::from_secs(60));
    let broker = Broker::any(Some(("alice", "secret")));
    let options = ConnectOptions::new("sc-auth")
        .unwrap()
        .credentials("alice", Some(b"wrong"))
        .unwrap();
    let started = Instant::now();
    match StdClient::connect(broker.addr().to_string(), options) {
        Err(Error::Broker(BrokerError::Refused(code))) => assert!(
            matches!(
                code,
                ConnectReturnCode::BadUsernameOrPassword | ConnectReturnCode::NotAuthorized
            ),
            "{code:?}"
        ),
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("a wrong password was accepted"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    // The right one works, and so does a publish on it.
    let options = ConnectOptions::new("sc-auth")
        .unwrap()
        .credentials("alice", Some(b"secret"))
        .unwrap();
    let mut mqtt = StdClient::connect(broker.addr().to_string(), options).unwrap();
    mqtt.publish("sc/auth", "ok", QoS::AtLeastOnce, false)
        .unwrap();
    mqtt.wait_published().unwrap();
    mqtt.disconnect().unwrap();
}

#[test]
fn an_unreachable_broker_is_an_io_error_after_the_last_attempt() {
    watchdog(Duration::from_secs(60));
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    match StdClient::connect(addr.clone(), ConnectOptions::new("sc-none").unwrap()) {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        Err(e) => panic!("expected the connect error, got {e}"),
        Ok(_) => panic!("connected to nothing"),
    }

    // Past the attempt limit: 3 attempts (waits of 50 and 100 ms between), then the error.
    let client = umqtt::Client::new(
        ConnectOptions::new("sc-none").unwrap(),
        vec![0; 1024],
        vec![0; 1024],
        vec![0; 4096],
    )
    .unwrap();
    let mut mqtt = StdClient::new(client, addr).unwrap();
    mqtt.set_backoff(Backoff::new(50, 1_000).max_attempts(3));
    let started = Instant::now();
    let e = mqtt
        .publish("sc/x", "x", QoS::AtLeastOnce, false)
        .unwrap_err();
    assert!(
        matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused),
        "{e}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    // The next call tries again (and fails the same way).
    assert!(matches!(mqtt.wait_msg(), Err(Error::Io(_))));
}

#[test]
fn check_msg_returns_on_a_quiet_link_and_keeps_it_alive() {
    watchdog(Duration::from_secs(60));
    let broker = Broker::any(None);
    let options = ConnectOptions::new("sc-quiet").unwrap().keep_alive_secs(1);
    let mut mqtt = StdClient::connect(broker.addr().to_string(), options).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    mqtt.on("sc/quiet", QoS::AtLeastOnce, move |m| {
        g.lock().unwrap().push(m.payload.to_vec())
    })
    .unwrap();
    let reconnects = Arc::new(Mutex::new(0));
    let r = reconnects.clone();
    mqtt.on_event(move |event| {
        if let Event::Connected { .. } = event {
            *r.lock().unwrap() += 1;
        }
    });
    // check_msg never waits for bytes (umqtt.simple's, and the non-blocking driver's): 100
    // calls on a quiet link take far less than one 100 ms read timeout each.
    let started = Instant::now();
    for _ in 0..100 {
        mqtt.check_msg().unwrap();
    }
    let spent = started.elapsed();
    assert!(
        spent < Duration::from_secs(2),
        "100 check_msg calls took {spent:?}"
    );
    // Three keep-alive intervals with nothing to deliver, in a main loop that sleeps 50 ms
    // between calls: check_msg keeps the quiet link alive (the broker does not drop it).
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        mqtt.check_msg().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut other = StdClient::connect(
        broker.addr().to_string(),
        ConnectOptions::new("sc-talk").unwrap(),
    )
    .unwrap();
    other
        .publish("sc/quiet", "late", QoS::AtLeastOnce, false)
        .unwrap();
    other.wait_published().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().is_empty() && Instant::now() < deadline {
        mqtt.check_msg().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(*got.lock().unwrap(), [b"late".to_vec()]);
    // run_for waits the time it is given, keeping the link alive meanwhile.
    let started = Instant::now();
    mqtt.run_for(1_500).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1_500));
    assert_eq!(mqtt.client().state(), umqtt::State::Connected);
    // The first connection's Connected (on_event sees it though it was set after connect),
    // and no other: the quiet link was never dropped.
    assert_eq!(*reconnects.lock().unwrap(), 1, "the quiet link was dropped");
}

/// paho's `loop_start`: 8 threads publish 10,000 QoS 1 messages through one handle while the
/// network thread receives them (its own subscription): every publish resolves, every
/// message arrives, and the handler set after `connect` saw the first `Connected`.
#[test]
fn eight_threads_publish_ten_thousand_through_one_handle_while_the_network_thread_receives() {
    watchdog(Duration::from_secs(120));
    let broker = Broker::any(None);
    let options = ConnectOptions::new("sc-handle").unwrap();
    let mut mqtt = StdClient::connect(broker.addr().to_string(), options).unwrap();
    let connected = Arc::new(Mutex::new(Vec::new()));
    let c = connected.clone();
    mqtt.on_event(move |event| {
        if let Event::Connected { session_present } = event {
            c.lock().unwrap().push(session_present);
        }
    });
    assert_eq!(
        *connected.lock().unwrap(),
        [false],
        "on_event missed the first Connected"
    );
    let got = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let g = got.clone();
    mqtt.on("sc/handle/#", QoS::AtLeastOnce, move |m| {
        g.lock().unwrap().insert(m.payload.to_vec());
    })
    .unwrap();
    // The publishers outrun the network thread and wait for room in the queue.
    let network = mqtt.spawn().unwrap();
    let handle = network.handle();
    let publishers: Vec<_> = (0..8)
        .map(|t| {
            let handle = handle.clone();
            std::thread::spawn(move || {
                for i in 0..1_250 {
                    let pid = handle
                        .publish(
                            &format!("sc/handle/{t}"),
                            format!("{t}-{i}"),
                            QoS::AtLeastOnce,
                            false,
                        )
                        .unwrap();
                    assert!(pid.is_some(), "a QoS 1 publish returns its packet id");
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.lock().unwrap().len() < 10_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20)); // the test waits; the library does not
    }
    assert_eq!(got.lock().unwrap().len(), 10_000, "messages delivered");
    network.stop().unwrap();
    // The network thread is gone: the handle says so.
    assert!(matches!(
        handle.publish("sc/handle/x", "late", QoS::AtMostOnce, false),
        Err(Error::Link(umqtt::LinkError::NotConnected))
    ));
}

/// Past the command queue where nothing drains it (before `spawn`): the first
/// `COMMAND_QUEUE` calls are queued and return at once, the next one is an error saying so,
/// never a wait for a network thread that does not exist yet.
#[test]
fn a_handle_past_the_command_queue_before_spawn_is_an_error_not_a_hang() {
    watchdog(Duration::from_secs(30));
    let client = umqtt::Client::new(
        ConnectOptions::new("sc-queue").unwrap(),
        vec![0; 1024],
        vec![0; 1024],
        vec![0; 4096],
    )
    .unwrap();
    let mut mqtt = StdClient::new(client, "mqtt://127.0.0.1:1").unwrap();
    let handle = mqtt.handle().unwrap();
    for i in 0..umqtt::managed::std_handle::COMMAND_QUEUE {
        let queued = handle.publish("sc/q", format!("{i}"), QoS::AtLeastOnce, false);
        assert_eq!(
            queued.unwrap(),
            None,
            "queued: no id before the network thread runs"
        );
    }
    let full = handle.publish("sc/q", "one too many", QoS::AtLeastOnce, false);
    assert!(
        matches!(&full, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock),
        "{full:?}"
    );
}

/// `StdNetwork::stop` (`StdHandle::disconnect`) while the network thread waits out a
/// reconnect backoff (the broker is gone, attempts unlimited): it returns at once, it does
/// not wait for a broker that may never come back. Dropping the network the same.
#[test]
fn disconnect_during_a_reconnect_backoff_returns_at_once() {
    watchdog(Duration::from_secs(60));
    let broker = Broker::mosquitto(None).expect("this test stops its broker: mosquitto");
    let options = ConnectOptions::new("sc-backoff").unwrap();
    let mut mqtt = StdClient::connect(broker.addr().to_string(), options).unwrap();
    mqtt.set_backoff(Backoff::new(5_000, 5_000));
    let network = mqtt.spawn().unwrap();
    drop(broker);
    thread::sleep(Duration::from_millis(500)); // the link is lost; the thread waits 5 s
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(network.stop());
    });
    let result = finished
        .recv_timeout(Duration::from_secs(2))
        .expect("disconnect waited for the backoff");
    assert!(result.is_ok(), "nothing was unacknowledged: {result:?}");

    // Dropping the network stops it the same way, and waits for the thread.
    let broker = Broker::mosquitto(None).unwrap();
    let options = ConnectOptions::new("sc-backoff").unwrap();
    let mut mqtt = StdClient::connect(broker.addr().to_string(), options).unwrap();
    mqtt.set_backoff(Backoff::new(5_000, 5_000));
    let network = mqtt.spawn().unwrap();
    drop(broker);
    thread::sleep(Duration::from_millis(500));
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        drop(network);
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(2))
        .expect("the network thread waited for the backoff");
}

/// A callback that publishes while `StdHandle::disconnect` waits for the last
/// acknowledgements: its message is published and acknowledged before the DISCONNECT, not
/// dropped with the network thread.
#[test]
fn a_callbacks_publish_during_the_final_wait_is_delivered() {
    watchdog(Duration::from_secs(60));
    let broker = Broker::mosquitto(None).expect("this test holds its broker: mosquitto");
    let (mut watcher, _) = support::broker::Conn::connect(
        broker.addr(),
        ConnectOptions::new("sc-watch").unwrap(),
        1024,
    )
    .unwrap();
    watcher.subscribe("sc/cb/#", QoS::AtLeastOnce).unwrap();
    let options = ConnectOptions::new("sc-cb").unwrap();
    let mut mqtt = StdClient::connect(broker.addr().to_string(), options).unwrap();
    let answer = mqtt.handle().unwrap();
    let once = AtomicBool::new(false);
    mqtt.on_event(move |event| {
        if let Event::Published { .. } = event {
            if !once.swap(true, Ordering::SeqCst) {
                answer
                    .publish("sc/cb/pong", "pong", QoS::AtLeastOnce, false)
                    .unwrap();
            }
        }
    });
    let network = mqtt.spawn().unwrap();
    broker.hold(true); // the PUBACK of "ping" comes only once disconnect is waiting for it
    network
        .publish("sc/cb/ping", "ping", QoS::AtLeastOnce, false)
        .unwrap();
    let disconnecting = thread::spawn(move || network.stop());
    thread::sleep(Duration::from_millis(300));
    broker.hold(false);
    disconnecting.join().unwrap().unwrap();
    let mut seen = Vec::new();
    while let Some(m) = watcher.recv(Duration::from_secs(2)).unwrap() {
        seen.push(m.payload.clone());
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen, [b"ping".to_vec(), b"pong".to_vec()]);
}

/// `on_connect` (paho's): set after `StdClient::connect`, it is called for that first
/// connection, and again after every reconnect, with a handle its publishes go through.
#[test]
fn on_connect_publishes_through_its_handle_on_the_first_connection_and_every_reconnect() {
    watchdog(Duration::from_secs(60));
    let broker = Broker::any(None);
    let proxy = CutProxy::start(broker.addr());
    let (mut watcher, _) = support::broker::Conn::connect(
        broker.addr(),
        ConnectOptions::new("sc-oc-watch").unwrap(),
        1024,
    )
    .unwrap();
    watcher.subscribe("sc/oc", QoS::AtLeastOnce).unwrap();
    let options = ConnectOptions::new("sc-oc").unwrap();
    let mut mqtt = StdClient::connect(proxy.addr.to_string(), options).unwrap();
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let c = calls.clone();
    mqtt.on_connect(move |mqtt| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        let queued = mqtt.publish("sc/oc", format!("online {n}"), QoS::AtLeastOnce, false);
        assert_eq!(queued.unwrap(), None, "from a callback: queued");
    })
    .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the first connection, replayed"
    );
    let network = mqtt.spawn().unwrap();
    let next = |watcher: &mut support::broker::Conn| {
        let m = watcher
            .recv(Duration::from_secs(5))
            .unwrap()
            .expect("a message");
        String::from_utf8(m.payload).unwrap()
    };
    assert_eq!(next(&mut watcher), "online 1");
    for n in 2..=4 {
        proxy.cut();
        assert_eq!(
            next(&mut watcher),
            format!("online {n}"),
            "after a reconnect"
        );
    }
    network.stop().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

/// A program that publishes and disconnects at once, as umqtt.simple programs do: every
/// message reaches the broker and the will does not fire. Closing the socket with the
/// broker's PUBACKs unread sent a TCP reset, and the broker dropped what it had not read yet
/// (the last PUBLISHes and the DISCONNECT: 2–3 of 10 arrived and the will fired, for
/// `StdClient` and for `Blocking` over `TcpTransport` alike).
#[test]
fn a_disconnect_right_after_publishing_loses_nothing_and_fires_no_will() {
    use umqtt::{Blocking, Client, StdClock, TcpTransport};
    watchdog(Duration::from_secs(120));
    let broker = Broker::any(None);
    let subscriber = ConnectOptions::new("closer-sub").unwrap();
    let (mut sub, _) = support::broker::Conn::connect(broker.addr(), subscriber, 4096).unwrap();
    sub.subscribe("close/#", QoS::AtLeastOnce).unwrap();
    fn with_will(id: &str) -> ConnectOptions<'_> {
        ConnectOptions::new(id)
            .unwrap()
            .will("close/will", id.as_bytes(), QoS::AtLeastOnce, false)
            .unwrap()
    }
    const ROUNDS: usize = 5;
    for round in 0..ROUNDS {
        let id = format!("closer-std-{round}");
        let url = format!("mqtt://{}", broker.addr());
        let mut mqtt = StdClient::connect(url.as_str(), with_will(&id)).unwrap();
        for i in 0..10 {
            let payload = format!("{id} {i}");
            mqtt.publish("close/m", payload, QoS::AtLeastOnce, false)
                .unwrap();
        }
        mqtt.disconnect().unwrap();
        drop(mqtt);

        let id = format!("closer-blocking-{round}");
        let client = Client::new(with_will(&id), vec![0; 1024], vec![0; 1024], vec![0; 4096]);
        let io = TcpTransport::connect(broker.addr()).unwrap();
        let mut mqtt = Blocking::new(client.unwrap(), io, StdClock::new(), |_| {});
        mqtt.connect().unwrap();
        for i in 0..10 {
            let payload = format!("{id} {i}");
            mqtt.publish("close/m", payload.as_bytes(), QoS::AtLeastOnce, false)
                .unwrap();
        }
        mqtt.disconnect().unwrap();
        drop(mqtt);
    }
    let (mut messages, mut wills) = (HashSet::new(), Vec::new());
    while let Some(m) = sub.recv(Duration::from_secs(2)).unwrap() {
        let payload = String::from_utf8_lossy(&m.payload).into_owned();
        match m.topic.as_str() {
            "close/will" => wills.push(payload),
            _ => drop(messages.insert(payload)),
        }
    }
    assert!(wills.is_empty(), "wills fired: {wills:?}");
    assert_eq!(
        messages.len(),
        ROUNDS * 2 * 10,
        "{} arrived",
        messages.len()
    );
}

/// Past the close's limit: a broker that neither closes after DISCONNECT nor stops sending
/// (a PINGRESP every 10 ms, forever). `StdClient::disconnect`, and dropping a `TcpTransport`
/// right after a `Blocking` disconnect, each return once `CLOSE_TIMEOUT` (1 s) has passed,
/// not when the broker decides: never a hang.
#[test]
fn a_broker_that_never_closes_after_disconnect_holds_the_close_for_close_timeout_only() {
    use std::io::{Read, Write};
    use umqtt::transport::tcp::CLOSE_TIMEOUT;
    use umqtt::{Blocking, Client, StdClock, TcpTransport};
    watchdog(Duration::from_secs(60));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            thread::spawn(move || {
                let mut buf = [0u8; 256];
                let mut seen = Vec::new();
                // CONNECT in, CONNACK out; then read until DISCONNECT.
                while !seen.ends_with(&[0xE0, 0x00]) {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if seen.is_empty() {
                                s.write_all(&[0x20, 2, 0, 0]).unwrap();
                            }
                            seen.extend_from_slice(&buf[..n]);
                        }
                    }
                }
                while s.write_all(&[0xD0, 0x00]).is_ok() {
                    thread::sleep(Duration::from_millis(10));
                }
            });
        }
    });
    let options = || ConnectOptions::new("never-closed").unwrap();
    let url = format!("mqtt://{addr}");
    let mut mqtt = StdClient::connect(url.as_str(), options()).unwrap();
    let started = Instant::now();
    mqtt.disconnect().unwrap();
    let took = started.elapsed();
    assert!(
        took >= CLOSE_TIMEOUT && took < CLOSE_TIMEOUT * 3,
        "StdClient::disconnect took {took:?}"
    );

    let client = Client::new(options(), vec![0; 256], vec![0; 256], vec![0; 1024]).unwrap();
    let io = TcpTransport::connect(addr).unwrap();
    let mut mqtt = Blocking::new(client, io, StdClock::new(), |_| {});
    mqtt.connect().unwrap();
    mqtt.disconnect().unwrap();
    let started = Instant::now();
    drop(mqtt);
    let took = started.elapsed();
    assert!(
        took >= CLOSE_TIMEOUT && took < CLOSE_TIMEOUT * 3,
        "dropping the transport took {took:?}"
    );
}
