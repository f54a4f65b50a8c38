//! The three drivers over real sockets against a real broker (mosquitto, required in CI, or
//! the in-process broker when it is not installed): QoS 0/1/2 both ways, unsubscribe,
//! keep-alive while idle, clean disconnect, the first connection through `reconnect`. The
//! protocol scenarios (retained, will, sessions, wildcards, refusals, …) run against every
//! broker in tests/broker_matrix.rs.

mod support;

use std::time::{Duration, Instant};

use support::broker::*;
use umqtt::transport::tokio::{TokioDelay, connect};
use umqtt::{
    Async, Blocking, Client, ConnectOptions, Event, NonBlocking, QoS, StdClock, SubackCode,
    TcpTransport,
};

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
        match mqtt.next_event() {
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

/// `run_for` on the blocking and the async driver: returns at the deadline (the blocking
/// one at most one transport read timeout later), with the messages that arrived meanwhile
/// handed to the handler and the connection kept alive past its keep-alive.
#[test]
fn run_for_hands_out_what_arrives_and_returns_in_time() {
    let b = Broker::any(None);
    let (mut other, _) =
        Conn::connect(b.addr(), ConnectOptions::new("ru-pub").unwrap(), 1024).unwrap();

    let got = std::cell::Cell::new(0);
    let count = |e: Event<'_>| {
        if let Event::Message(_) = e {
            got.set(got.get() + 1);
        }
    };
    let options = ConnectOptions::new("ru-blk").unwrap().keep_alive_secs(1);
    let client = Client::new(options, [0u8; 1024], [0u8; 1024], [0u8; 1024]).unwrap();
    let io = TcpTransport::connect(b.addr()).unwrap();
    let mut m = Blocking::new(client, io, StdClock::new(), count);
    m.connect().unwrap();
    m.subscribe("ru/blk", QoS::AtLeastOnce).unwrap();
    m.run_for(200).unwrap(); // the SUBACK
    other
        .publish("ru/blk", b"1", QoS::AtLeastOnce, false)
        .unwrap();
    let t = Instant::now();
    m.run_for(2_500).unwrap();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(2_500), "{took:?}");
    assert!(took < Duration::from_millis(3_500), "{took:?}");
    assert_eq!(got.get(), 1, "the message published meanwhile");
    assert_eq!(
        m.client().state(),
        umqtt::State::Connected,
        "kept alive past 1 s"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let got = std::cell::Cell::new(0);
        let count = |e: Event<'_>| {
            if let Event::Message(_) = e {
                got.set(got.get() + 1);
            }
        };
        let options = ConnectOptions::new("ru-async").unwrap().keep_alive_secs(1);
        let client = Client::new(options, [0u8; 1024], [0u8; 1024], [0u8; 1024]).unwrap();
        let io = connect(b.addr()).await.unwrap();
        let mut m = Async::new(client, io, StdClock::new(), TokioDelay, count);
        m.connect().await.unwrap();
        m.subscribe("ru/async", QoS::AtLeastOnce).await.unwrap();
        m.run_for(200).await.unwrap();
        other
            .publish("ru/async", b"1", QoS::AtLeastOnce, false)
            .unwrap();
        // A millisecond clock reads the start a fraction late: the wait still lasts `ms`.
        for _ in 0..40 {
            let t = Instant::now();
            m.run_for(2).await.unwrap();
            assert!(t.elapsed() >= Duration::from_millis(2), "{:?}", t.elapsed());
        }
        let t = Instant::now();
        m.run_for(2_500).await.unwrap();
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(2_500), "{took:?}");
        assert!(
            took < Duration::from_millis(2_700),
            "the async driver returns at the deadline: {took:?}"
        );
        assert_eq!(got.get(), 1);
        assert_eq!(m.client().state(), umqtt::State::Connected);
    });
}
