//! Scenarios against a real broker: mosquitto (required in CI), or the in-process broker
//! where it supports the scenario when mosquitto is not installed. Then the three drivers
//! over real sockets: QoS 0/1/2 both ways, wildcard subscriptions, unsubscribe, keep-alive
//! while idle, clean disconnect, the first connection through `reconnect`.

mod support;

use std::time::{Duration, Instant};

use support::broker::*;
use umqtt::adapters::tokio::{TokioDelay, connect};
use umqtt::packet::ConnectReturnCode;
use umqtt::{
    Async, Blocking, BrokerError, Client, ConnectOptions, Error, Event, LinkError, NonBlocking,
    QoS, StdClock, SubackCode, TcpTransport,
};

const SHORT: Duration = Duration::from_millis(500);

fn opts(id: &str) -> ConnectOptions<'_> {
    ConnectOptions::new(id).unwrap()
}

fn payload(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn anonymous_qos_0_1_2_both_directions_with_exact_bytes() {
    let b = Broker::any(None);
    let (mut sub, _) = Conn::connect(b.addr(), opts("sub-a"), 4096).unwrap();
    let (mut publ, _) = Conn::connect(b.addr(), opts("pub-a"), 4096).unwrap();
    assert_eq!(
        sub.subscribe("q/+", QoS::ExactlyOnce).unwrap(),
        [SubackCode::Success(QoS::ExactlyOnce)]
    );
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let body = payload(i as u8, 100 + i);
        publ.publish(&format!("q/{i}"), &body, qos, false).unwrap();
        let m = sub.recv(WAIT).unwrap().expect("message");
        assert_eq!(
            (m.topic.as_str(), &m.payload),
            (format!("q/{i}").as_str(), &body)
        );
        if b.is_mosquitto() {
            assert_eq!(m.qos, qos, "granted QoS 2 delivers at the publish QoS");
        }
    }
    // The broker publishes to us and we publish to it on one connection too.
    sub.publish("q/self", b"loop", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(sub.recv(WAIT).unwrap().unwrap().payload, b"loop");
    sub.disconnect().unwrap();
    publ.disconnect().unwrap();
}

#[test]
fn password_file_right_credentials_connect_wrong_ones_are_refused() {
    let b = Broker::any(Some(("alice", "s3cret")));
    let (c, _) = Conn::connect(
        b.addr(),
        opts("auth-ok")
            .credentials("alice", Some(b"s3cret"))
            .unwrap(),
        1024,
    )
    .unwrap();
    c.disconnect().unwrap();
    for (user, pass) in [("alice", &b"wrong"[..]), ("mallory", b"s3cret")] {
        let err = Conn::connect(
            b.addr(),
            opts("auth-bad").credentials(user, Some(pass)).unwrap(),
            1024,
        )
        .err()
        .expect("refused");
        assert!(
            matches!(
                err,
                Error::Broker(BrokerError::Refused(
                    ConnectReturnCode::BadUsernameOrPassword | ConnectReturnCode::NotAuthorized
                ))
            ) || (!b.is_mosquitto() && matches!(err, Error::Link(LinkError::Closed))),
            "{err:?}"
        );
    }
    if b.is_mosquitto() {
        let err = Conn::connect(b.addr(), opts("auth-none"), 1024)
            .err()
            .expect("refused");
        assert!(
            matches!(err, Error::Broker(BrokerError::Refused(_))),
            "{err:?}"
        );
    }
}

#[test]
fn retained_messages_are_set_delivered_with_the_flag_and_cleared() {
    let b = Broker::any(None);
    let (mut publ, _) = Conn::connect(b.addr(), opts("ret-pub"), 1024).unwrap();
    publ.publish("ret/t", b"kept", QoS::AtLeastOnce, true)
        .unwrap();
    let (mut late, _) = Conn::connect(b.addr(), opts("ret-late"), 1024).unwrap();
    late.subscribe("ret/#", QoS::AtLeastOnce).unwrap();
    let m = late.recv(WAIT).unwrap().expect("retained message");
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice(), m.retain),
        ("ret/t", &b"kept"[..], true)
    );
    // A live message to an existing subscriber is not flagged retained.
    publ.publish("ret/live", b"now", QoS::AtLeastOnce, false)
        .unwrap();
    assert!(!late.recv(WAIT).unwrap().unwrap().retain);
    // An empty retained payload clears it.
    publ.publish("ret/t", b"", QoS::AtLeastOnce, true).unwrap();
    let _ = late.recv(SHORT).unwrap();
    let (mut later, _) = Conn::connect(b.addr(), opts("ret-later"), 1024).unwrap();
    later.subscribe("ret/#", QoS::AtLeastOnce).unwrap();
    publ.publish("ret/marker", b"m", QoS::AtLeastOnce, false)
        .unwrap();
    let m = later.recv(WAIT).unwrap().unwrap();
    assert_eq!(
        m.topic, "ret/marker",
        "the cleared retained message was delivered: {m:?}"
    );
}

#[test]
fn will_is_published_on_a_drop_and_not_after_disconnect() {
    let b = Broker::any(None);
    let (mut watch, _) = Conn::connect(b.addr(), opts("will-watch"), 1024).unwrap();
    watch.subscribe("will/#", QoS::AtLeastOnce).unwrap();

    let o = opts("will-drop")
        .will("will/drop", b"gone", QoS::AtLeastOnce, false)
        .unwrap();
    let (dropper, _) = Conn::connect(b.addr(), o, 1024).unwrap();
    drop(dropper); // the socket closes without DISCONNECT
    let m = watch.recv(WAIT).unwrap().expect("will message");
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("will/drop", &b"gone"[..])
    );

    let o = opts("will-clean")
        .will("will/clean", b"should not appear", QoS::AtLeastOnce, false)
        .unwrap();
    let (clean, _) = Conn::connect(b.addr(), o, 1024).unwrap();
    clean.disconnect().unwrap();
    let (mut publ, _) = Conn::connect(b.addr(), opts("will-marker"), 1024).unwrap();
    publ.publish("will/marker", b"m", QoS::AtLeastOnce, false)
        .unwrap();
    let m = watch.recv(WAIT).unwrap().unwrap();
    assert_eq!(
        m.topic, "will/marker",
        "a will was published after DISCONNECT: {m:?}"
    );
}

#[test]
fn wildcard_subscriptions_match_as_section_4_7_says() {
    let b = Broker::any(None);
    let (mut sub, _) = Conn::connect(b.addr(), opts("wild-sub"), 1024).unwrap();
    sub.subscribe("w/+/temp", QoS::AtLeastOnce).unwrap();
    sub.subscribe("x/#", QoS::AtLeastOnce).unwrap();
    let (mut publ, _) = Conn::connect(b.addr(), opts("wild-pub"), 1024).unwrap();
    for t in [
        "w/kitchen/temp",
        "w/kitchen/hum",
        "w/a/b/temp",
        "x",
        "x/1/2/3",
        "y/x",
    ] {
        publ.publish(t, t.as_bytes(), QoS::AtLeastOnce, false)
            .unwrap();
    }
    publ.publish("x/end", b"end", QoS::AtLeastOnce, false)
        .unwrap();
    let mut got = vec![];
    while got.last().map(String::as_str) != Some("x/end") {
        got.push(sub.recv(WAIT).unwrap().expect("message").topic);
    }
    assert_eq!(got, ["w/kitchen/temp", "x", "x/1/2/3", "x/end"]);
}

#[test]
fn persistent_session_receives_what_was_published_while_offline() {
    let Some(b) = Broker::mosquitto(None) else {
        eprintln!(
            "skipped: needs mosquitto (the in-process broker does not queue for offline sessions)"
        );
        return;
    };
    let o = || opts("persist-sub").clean_session(false);
    let (mut sub, sp) = Conn::connect(b.addr(), o(), 4096).unwrap();
    assert!(!sp);
    sub.subscribe("off/#", QoS::ExactlyOnce).unwrap();
    sub.disconnect().unwrap();
    let (mut publ, _) = Conn::connect(b.addr(), opts("persist-pub"), 4096).unwrap();
    for i in 0..20u8 {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        publ.publish(&format!("off/{i}"), &[i], qos, false).unwrap();
    }
    let (mut sub, sp) = Conn::connect(b.addr(), o(), 4096).unwrap();
    assert!(sp, "the broker resumed the session");
    let mut got = vec![];
    while got.len() < 20 {
        got.push(sub.recv(WAIT).unwrap().expect("queued message").payload[0]);
    }
    assert_eq!(got, (0..20).collect::<Vec<u8>>());
    sub.disconnect().unwrap();
}

#[test]
fn payload_of_256_kib_round_trips() {
    let b = Broker::any(None);
    let size = 256 * 1024;
    let (mut sub, _) = Conn::connect(b.addr(), opts("big-sub"), size + 1024).unwrap();
    let (mut publ, _) = Conn::connect(b.addr(), opts("big-pub"), size + 1024).unwrap();
    sub.subscribe("big", QoS::AtLeastOnce).unwrap();
    let body = payload(7, size);
    publ.publish("big", &body, QoS::AtLeastOnce, false).unwrap();
    let m = sub.recv(WAIT).unwrap().expect("big message");
    assert!(m.payload == body, "payload differs");
}

/// The handler of these drivers: nothing arrives while they wait but the disconnect's end.
fn only_disconnected(e: Event<'_>) {
    assert!(matches!(e, Event::Disconnected), "unexpected {e:?}");
}

fn sized(i: usize) -> Vec<u8> {
    (0..(i * 37 + 5)).map(|b| (b * 7 + i) as u8).collect()
}

#[test]
fn blocking_qos_0_1_2_round_trip_through_a_real_broker() {
    let b = Broker::any(None);
    let addr = b.addr();
    let options = ConnectOptions::new("blk").unwrap();
    let client = Client::new(options, [0u8; 4096], [0u8; 4096], [0u8; 4096]).unwrap();
    let io = TcpTransport::connect(addr).unwrap();
    let mut mqtt = Blocking::new(client, io, StdClock::new(), only_disconnected);
    assert!(!mqtt.connect().unwrap());
    mqtt.subscribe("it/blk/+", QoS::ExactlyOnce).unwrap();
    assert!(
        matches!(mqtt.next_event().unwrap(), Event::Subscribed { codes, .. }
        if codes.iter().collect::<Vec<_>>() == [SubackCode::Success(QoS::ExactlyOnce)])
    );
    let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
    for (i, q) in qos.iter().enumerate() {
        mqtt.publish(&format!("it/blk/{i}"), sized(i), *q, false)
            .unwrap();
    }
    let (mut got, mut done) = (vec![], 0);
    while got.len() < 3 || done < 2 {
        match mqtt.next_event().unwrap() {
            Event::Message(m) => got.push((m.topic.as_str().to_string(), m.payload.to_vec())),
            Event::Published { .. } => done += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    got.sort();
    let want: Vec<_> = (0..3).map(|i| (format!("it/blk/{i}"), sized(i))).collect();
    assert_eq!(got, want);
    mqtt.unsubscribe("it/blk/+").unwrap();
    assert!(matches!(
        mqtt.next_event().unwrap(),
        Event::Unsubscribed { .. }
    ));
    mqtt.disconnect().unwrap();
}

#[test]
fn nonblocking_keeps_the_connection_alive_and_delivers() {
    let b = Broker::any(None);
    let addr = b.addr();
    let options = ConnectOptions::new("nb").unwrap().keep_alive_secs(1);
    let (mut rx, mut tx, mut store) = ([0u8; 2048], [0u8; 2048], [0u8; 8192]);
    let client = Client::new(options, &mut rx[..], &mut tx[..], &mut store[..]).unwrap();
    let io = TcpTransport::connect(addr).unwrap();
    let mut mqtt = NonBlocking::new(client, io, StdClock::new(), only_disconnected);
    nb::block!(mqtt.connect()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    type Nb<'a, H> = NonBlocking<&'a mut [u8], TcpTransport, StdClock, H>;
    let step = |mqtt: &mut Nb<'_, _>| -> Option<String> {
        assert!(Instant::now() < deadline, "timed out");
        match mqtt.poll() {
            Ok(Event::Message(m)) => {
                Some(format!("Message:{}", String::from_utf8_lossy(m.payload)))
            }
            Ok(e) => Some(format!("{e:?}")),
            Err(nb::Error::WouldBlock) => {
                std::thread::sleep(Duration::from_millis(5));
                None
            }
            Err(nb::Error::Other(e)) => panic!("{e}"),
        }
    };
    nb::block!(mqtt.subscribe("it/nb/#", QoS::AtLeastOnce)).unwrap();
    while !step(&mut mqtt).is_some_and(|e| e.starts_with("Subscribed")) {}
    // Idle for 3.5 keep-alive periods: without PINGREQ the broker would drop us at 1.5.
    let idle_until = Instant::now() + Duration::from_millis(3_500);
    while Instant::now() < idle_until {
        assert_eq!(step(&mut mqtt), None);
    }
    nb::block!(mqtt.publish("it/nb/x", b"still here", QoS::AtLeastOnce, false)).unwrap();
    let mut got_message = false;
    let mut got_ack = false;
    while !(got_message && got_ack) {
        if let Some(e) = step(&mut mqtt) {
            got_message |= e == "Message:still here";
            got_ack |= e.starts_with("Published");
        }
    }
    nb::block!(mqtt.disconnect()).unwrap();
}

#[tokio::test]
async fn async_over_tokio_round_trip() {
    let b = tokio::task::spawn_blocking(|| Broker::any(None))
        .await
        .unwrap();
    let addr = b.addr();
    let options = ConnectOptions::new("async").unwrap();
    let client = Client::new(options, vec![0; 2048], vec![0; 2048], vec![0; 8192]).unwrap();
    let io = connect(addr).await.unwrap();
    let mut mqtt = Async::new(client, io, StdClock::new(), TokioDelay, only_disconnected);
    assert!(!mqtt.connect().await.unwrap());
    mqtt.subscribe("it/async/#", QoS::ExactlyOnce)
        .await
        .unwrap();
    assert!(matches!(
        mqtt.next_event().await.unwrap(),
        Event::Subscribed { .. }
    ));
    mqtt.publish("it/async/a", sized(9), QoS::ExactlyOnce, false)
        .await
        .unwrap();
    let (mut got, mut done) = (None, false);
    while got.is_none() || !done {
        match mqtt.next_event().await.unwrap() {
            Event::Message(m) => got = Some(m.payload.to_vec()),
            Event::Published { qos, .. } => done = qos == QoS::ExactlyOnce,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got.unwrap(), sized(9));
    mqtt.disconnect().await.unwrap();
}

#[test]
fn blocking_reconnect_makes_the_first_connection_after_a_refused_attempt() {
    let b = Broker::any(None);
    let addr = b.addr();
    // A port nobody listens on: the first attempt is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let options = ConnectOptions::new("first").unwrap();
    let client = Client::new(options, vec![0; 512], vec![0; 512], vec![0; 512]).unwrap();
    let mut mqtt = Blocking::new(
        client,
        TcpTransport::disconnected(),
        StdClock::new(),
        |_| {},
    );
    let mut tried = vec![];
    let open = |attempt| {
        tried.push(attempt);
        TcpTransport::connect(if attempt == 0 { closed } else { addr })
    };
    let mut backoff = umqtt::Backoff::new(10, 100);
    assert!(
        !mqtt
            .reconnect(open, &mut backoff, &mut umqtt::StdDelay)
            .unwrap()
    );
    assert_eq!(tried, [0, 1]);
    mqtt.publish("it/first", "hello", QoS::AtLeastOnce, false)
        .unwrap();
    mqtt.wait_published().unwrap();
    mqtt.disconnect().unwrap();
}
