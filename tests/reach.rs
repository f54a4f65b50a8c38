//! Reaching brokers the way people do, on real sockets against mosquitto: MQTT over
//! WebSocket through `StdClient` and through the tokio event loop, with the connection cut
//! 20 times during 2,000 QoS 1/2 messages (nothing lost, QoS 2 once); a spawned client over
//! WebSocket; failover through a list of brokers when the live one dies and comes back on
//! another port of the list (`StdClient` and `TokioClient`), and a list past its attempt
//! limit.

mod support;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::broker::Broker;
use support::proxy::CutProxy;
use umqtt::managed::tokio::{OwnedEvent, TokioClient};
use umqtt::{Backoff, ConnectOptions, Event, QoS, StdClient};

const MESSAGES: u32 = 2_000;
const CUTS: u32 = 20;

/// Ends the test process if a test hangs (a missing message would otherwise wait forever).
fn watchdog(limit: Duration) {
    thread::spawn(move || {
        thread::sleep(limit);
        eprintln!("reach: no result after {limit:?}");
        std::process::abort();
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn two_thousand_messages_over_websocket_across_twenty_cuts_nothing_lost_qos_2_once() {
    watchdog(Duration::from_secs(240));
    let Some((broker, ws)) = Broker::mosquitto_ws() else {
        eprintln!("mosquitto not installed: no WebSocket broker to test against");
        return;
    };
    let _broker = broker;
    let url = format!("ws://127.0.0.1:{ws}/");

    // The subscriber over WebSocket, direct: how many times each message arrived.
    let got: Arc<Mutex<HashMap<u32, u32>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let options = ConnectOptions::new("ws-sub").unwrap().clean_session(false);
    let mut sub = StdClient::connect(url.as_str(), options).unwrap();
    // Both subscriptions exist before the first message is published (the handler is set
    // before they are made: it sees both SUBACKs).
    let acks = Arc::new(Mutex::new(0));
    let a = acks.clone();
    sub.on_event(move |event| {
        if let Event::Subscribed { .. } = event {
            *a.lock().unwrap() += 1;
        }
    });
    let g = got.clone();
    sub.on("ws/data/+", QoS::ExactlyOnce, move |m| {
        let n: u32 = std::str::from_utf8(m.payload).unwrap().parse().unwrap();
        *g.lock().unwrap().entry(n).or_default() += 1;
    })
    .unwrap();
    let d = done.clone();
    sub.on("ws/done", QoS::AtLeastOnce, move |_| {
        d.store(true, Ordering::SeqCst)
    })
    .unwrap();
    while *acks.lock().unwrap() < 2 {
        sub.wait_msg().unwrap();
    }
    let subscriber = thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            sub.wait_msg().unwrap();
        }
        sub.disconnect().unwrap();
    });

    // The publisher over WebSocket through a proxy that cuts the TCP connection under it;
    // a persistent session, so the broker resumes it and QoS 2 stays exactly once.
    let proxy = CutProxy::start(([127, 0, 0, 1], ws).into());
    let options = ConnectOptions::new("ws-pub").unwrap().clean_session(false);
    let mut publisher = StdClient::connect(format!("ws://{}/", proxy.addr), options).unwrap();
    publisher.set_backoff(Backoff::new(20, 200));
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
        publisher
            .publish(&format!("ws/data/{}", n % 7), n.to_string(), qos, false)
            .unwrap_or_else(|e| panic!("publish {n}: {e}"));
    }
    publisher.wait_published().unwrap();
    publisher
        .publish("ws/done", "", QoS::AtLeastOnce, false)
        .unwrap();
    publisher.wait_published().unwrap();
    publisher.disconnect().unwrap();
    subscriber.join().unwrap();

    let got = got.lock().unwrap();
    let missing: Vec<u32> = (0..MESSAGES).filter(|n| !got.contains_key(n)).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    let twice: Vec<u32> = (1..MESSAGES)
        .step_by(2)
        .filter(|n| got.get(n) != Some(&1))
        .collect();
    assert!(
        twice.is_empty(),
        "QoS 2 messages not delivered exactly once: {twice:?}"
    );
    let connects = connects.lock().unwrap();
    assert!(
        connects.len() > CUTS as usize,
        "the publisher connected {} times for {CUTS} cuts",
        connects.len()
    );
    assert!(
        connects.iter().skip(1).all(|present| *present),
        "every reconnect resumed the session: {connects:?}"
    );
}

#[test]
fn failover_through_a_list_when_the_live_broker_dies_and_comes_back_on_another_port() {
    watchdog(Duration::from_secs(120));
    let Some(first) = Broker::mosquitto_conf("allow_anonymous true\n") else {
        eprintln!("mosquitto not installed: no brokers to fail over between");
        return;
    };
    let (dead, live, third) = (free_port(), first.addr().port(), free_port());
    let urls = [
        format!("mqtt://127.0.0.1:{dead}"),
        format!("mqtt://127.0.0.1:{live}"),
        format!("mqtt://127.0.0.1:{third}"),
    ];
    let got: Arc<Mutex<HashMap<u32, u32>>> = Arc::default();
    let mut mqtt = StdClient::connect(urls.as_slice(), ConnectOptions::new("failover").unwrap())
        .expect("the dead broker is skipped, the live one answers");
    mqtt.set_backoff(Backoff::new(50, 500));
    let connects = Arc::new(Mutex::new(0));
    let c = connects.clone();
    mqtt.on_event(move |event| {
        if let Event::Connected { .. } = event {
            *c.lock().unwrap() += 1;
        }
    });
    let g = got.clone();
    mqtt.on("fo/+", QoS::AtLeastOnce, move |m| {
        let n: u32 = std::str::from_utf8(m.payload).unwrap().parse().unwrap();
        *g.lock().unwrap().entry(n).or_default() += 1;
    })
    .unwrap();
    let round = |mqtt: &mut StdClient, from: u32| {
        for n in from..from + 200 {
            mqtt.publish("fo/n", n.to_string(), QoS::AtLeastOnce, false)
                .unwrap_or_else(|e| panic!("publish {n}: {e}"));
        }
        mqtt.wait_published().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while (from..from + 200).any(|n| !got.lock().unwrap().contains_key(&n)) {
            assert!(
                Instant::now() < deadline,
                "messages {from}.. did not all come back"
            );
            mqtt.run_for(20).unwrap();
        }
    };
    round(&mut mqtt, 0);

    // The live broker dies; one comes up on the third port of the list.
    drop(first);
    let _third = Broker::mosquitto_at(third, "allow_anonymous true\n").unwrap();
    round(&mut mqtt, 200);
    assert_eq!(*connects.lock().unwrap(), 2, "one connection per broker");
    mqtt.disconnect().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokio_event_loop_over_websocket_across_twenty_cuts_nothing_lost_qos_2_once() {
    watchdog(Duration::from_secs(240));
    let Some((broker, ws)) = tokio::task::spawn_blocking(Broker::mosquitto_ws)
        .await
        .unwrap()
    else {
        eprintln!("mosquitto not installed: no WebSocket broker to test against");
        return;
    };
    let _broker = broker;
    let options = ConnectOptions::new("tws-sub").unwrap().clean_session(false);
    let (sub, mut sub_loop) =
        TokioClient::new(format!("ws://127.0.0.1:{ws}/"), options, 16).unwrap();
    sub.subscribe("tws/#", QoS::ExactlyOnce).await.unwrap();
    // The subscription exists before the first message is published.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), sub_loop.poll()).await {
            Ok(Ok(OwnedEvent::Subscribed { .. })) => break,
            Ok(Ok(_)) => {}
            other => panic!("subscribing: {other:?}"),
        }
    }
    let received = tokio::spawn(async move {
        let mut got: HashMap<u32, u32> = HashMap::new();
        while got.len() < MESSAGES as usize {
            match tokio::time::timeout(Duration::from_secs(60), sub_loop.poll()).await {
                Ok(Ok(OwnedEvent::Message(m))) => {
                    let n: u32 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
                    *got.entry(n).or_default() += 1;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("subscriber: {e}"),
                Err(_) => {
                    let missing: Vec<u32> =
                        (0..MESSAGES).filter(|n| !got.contains_key(n)).collect();
                    panic!(
                        "subscriber: {} of {MESSAGES} after 60 s quiet; missing {missing:?}",
                        got.len()
                    )
                }
            }
        }
        // QoS 2 duplicates would arrive right behind: give them the time to.
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while let Ok(event) = sub_loop.poll().await {
                if let OwnedEvent::Message(m) = event {
                    let n: u32 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
                    *got.entry(n).or_default() += 1;
                }
            }
        })
        .await;
        got
    });

    let proxy = CutProxy::start(([127, 0, 0, 1], ws).into());
    let options = ConnectOptions::new("tws-pub").unwrap().clean_session(false);
    let (client, mut eventloop) =
        TokioClient::new(format!("ws://{}/", proxy.addr), options, 64).unwrap();
    eventloop.set_backoff(Backoff::new(5, 200));
    let connects = Arc::new(Mutex::new(Vec::new()));
    let c = connects.clone();
    let driver = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(OwnedEvent::Connected { session_present }) => {
                    c.lock().unwrap().push(session_present)
                }
                Ok(OwnedEvent::Disconnected) => return,
                _ => {}
            }
        }
    });
    for n in 0..MESSAGES {
        if n % (MESSAGES / CUTS) == MESSAGES / CUTS / 2 {
            let proxy = &proxy;
            tokio::task::block_in_place(|| proxy.cut());
        }
        let qos = if n % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        client
            .publish(
                &format!("tws/{}", n % 7),
                n.to_string().into_bytes(),
                qos,
                false,
            )
            .await
            .unwrap_or_else(|e| panic!("publish {n}: {e}"));
    }
    let got = tokio::time::timeout(Duration::from_secs(120), received)
        .await
        .expect("the subscriber receives every message")
        .unwrap();
    client.disconnect().await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), driver)
        .await
        .unwrap()
        .unwrap();
    let missing: Vec<u32> = (0..MESSAGES).filter(|n| !got.contains_key(n)).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    let twice: Vec<u32> = (1..MESSAGES)
        .step_by(2)
        .filter(|n| got.get(n) != Some(&1))
        .collect();
    assert!(
        twice.is_empty(),
        "QoS 2 messages not delivered exactly once: {twice:?}"
    );
    let connects = connects.lock().unwrap();
    assert!(
        connects.len() > CUTS as usize,
        "{} connections for {CUTS} cuts",
        connects.len()
    );
    assert!(
        connects.iter().skip(1).all(|present| *present),
        "{connects:?}"
    );
}

/// Past the backoff's attempt limit with a list: each attempt is one round, and a round after
/// a broker that opened but failed at the MQTT level starts with the next one; the last
/// error is the caller's once the attempts run out.
#[test]
fn a_list_past_its_attempts_is_an_error_one_broker_per_round_after_mqtt_failures() {
    watchdog(Duration::from_secs(60));
    // Two "brokers" that accept and close at once.
    let accepts: Vec<Arc<Mutex<u32>>> = (0..2).map(|_| Arc::default()).collect();
    let urls: Vec<String> = accepts
        .iter()
        .map(|count| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("mqtt://{}", listener.local_addr().unwrap());
            let count = count.clone();
            thread::spawn(move || {
                for conn in listener.incoming() {
                    *count.lock().unwrap() += 1;
                    drop(conn);
                }
            });
            url
        })
        .collect();
    let client = umqtt::Client::new(
        ConnectOptions::new("fo-limit").unwrap(),
        vec![0; 1024],
        vec![0; 1024],
        vec![0; 4096],
    )
    .unwrap();
    let mut mqtt = StdClient::new(client, urls.as_slice()).unwrap();
    mqtt.set_backoff(Backoff::new(10, 10).max_attempts(3));
    let t = Instant::now();
    let e = mqtt
        .publish("fo/x", "x", QoS::AtLeastOnce, false)
        .expect_err("no broker answers MQTT");
    assert!(
        matches!(e, umqtt::Error::Link(_) | umqtt::Error::Io(_)),
        "{e:?}"
    );
    let counts: Vec<u32> = accepts.iter().map(|c| *c.lock().unwrap()).collect();
    assert_eq!(
        counts,
        [2, 1],
        "three rounds: the first, the second, the first"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

/// `TokioClient` with a list: the dead broker is skipped, the live one used; when it dies,
/// the third of the list takes over and every QoS 1 message is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokio_client_fails_over_through_a_list() {
    watchdog(Duration::from_secs(120));
    let Some(first) =
        tokio::task::spawn_blocking(|| Broker::mosquitto_conf("allow_anonymous true\n"))
            .await
            .unwrap()
    else {
        eprintln!("mosquitto not installed: no brokers to fail over between");
        return;
    };
    let (dead, live, third) = (free_port(), first.addr().port(), free_port());
    let urls = [
        format!("mqtt://127.0.0.1:{dead}"),
        format!("mqtt://127.0.0.1:{live}"),
        format!("mqtt://127.0.0.1:{third}"),
    ];
    let (client, mut eventloop) =
        TokioClient::new(urls.as_slice(), ConnectOptions::new("tfo").unwrap(), 64).unwrap();
    eventloop.set_backoff(Backoff::new(50, 500));
    client.subscribe("tfo/+", QoS::AtLeastOnce).await.unwrap();
    let mut got: HashMap<u32, u32> = HashMap::new();
    let mut connects = 0;
    let mut first = Some(first);
    let mut after = None;
    for from in [0u32, 200] {
        if from > 0 {
            drop(first.take()); // the live broker dies; one comes up on the third port
            let started = tokio::task::spawn_blocking(move || {
                Broker::mosquitto_at(third, "allow_anonymous true\n").unwrap()
            });
            after = Some(started.await.unwrap());
        }
        // The subscription exists (restored on the new broker) before the first message.
        loop {
            let event = tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await;
            match event {
                Ok(Ok(OwnedEvent::Subscribed { .. })) => break,
                Ok(Ok(OwnedEvent::Connected { .. })) => connects += 1,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => eprintln!("event loop: {e} (reconnecting)"),
                Err(_) => panic!("no subscription for round {from}"),
            }
        }
        let c = client.clone();
        let publisher = tokio::spawn(async move {
            for n in from..from + 200 {
                c.publish("tfo/n", n.to_string(), QoS::AtLeastOnce, false)
                    .await
                    .unwrap();
            }
        });
        while (from..from + 200).any(|n| !got.contains_key(&n)) {
            let event = tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await;
            match event {
                Ok(Ok(OwnedEvent::Message(m))) => {
                    let n: u32 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
                    *got.entry(n).or_default() += 1;
                }
                Ok(Ok(OwnedEvent::Connected { .. })) => connects += 1,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => eprintln!("event loop: {e} (reconnecting)"),
                Err(_) => panic!("messages {from}.. did not all come back"),
            }
        }
        publisher.await.unwrap();
    }
    assert_eq!(connects, 2, "one connection per broker");
    // The event loop carries the DISCONNECT out, then ends.
    let driver = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    client.disconnect().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), driver)
        .await
        .expect("the event loop ended")
        .unwrap();
    drop(after);
}

/// paho's `loop_start` over WebSocket: the network thread of a `ws://` client, publishing
/// from main, its own subscription receiving.
#[test]
fn a_spawned_client_over_websocket() {
    watchdog(Duration::from_secs(60));
    let Some((_broker, ws)) = Broker::mosquitto_ws() else {
        eprintln!("mosquitto not installed: no WebSocket broker to test against");
        return;
    };
    let options = ConnectOptions::new("spawn-ws").unwrap();
    let mut mqtt = StdClient::connect(format!("ws://127.0.0.1:{ws}/"), options).unwrap();
    let (back, got) = std::sync::mpsc::channel();
    mqtt.on("sws/+", QoS::AtLeastOnce, move |m| {
        let _ = back.send(m.payload.to_vec());
    })
    .unwrap();
    let network = mqtt.spawn().unwrap();
    for n in 0..500 {
        network
            .publish("sws/n", n.to_string(), QoS::AtLeastOnce, false)
            .unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 500 {
        let m = got
            .recv_timeout(Duration::from_secs(10))
            .expect("a message");
        seen.insert(String::from_utf8(m).unwrap());
    }
    network.stop().unwrap();
}
