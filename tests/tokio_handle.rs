//! The tokio handle and event loop against a real broker (mosquitto in CI): 8 publisher tasks
//! share one `TokioClient` and send 2,000 QoS 1 messages each through a proxy that cuts the
//! connection 20 times. Every publish call must resolve, and a subscriber (its own event loop,
//! a persistent session connected directly) must receive every message at least once. Then
//! the event loop's edges against a tiny scripted TCP broker: a cancelled poll, a SUBSCRIBE
//! lost across a resumed session, a refusal, calls after the end.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::broker::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};
use tokio::task::AbortHandle;
use umqtt::managed::tokio::{OwnedEvent, TokioClient};
use umqtt::packet::ConnectReturnCode;
use umqtt::{Backoff, BrokerError, ConnectOptions, Error, LinkError, QoS};

const TASKS: u32 = 8;
const PER_TASK: u32 = 2_000;
const CUTS: usize = 20;

/// A loopback proxy whose `cut` closes every connection passing through it.
struct Proxy {
    addr: SocketAddr,
    live: Arc<Mutex<Vec<AbortHandle>>>,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let live: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (l, a) = (live.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let task = tokio::spawn(async move {
                    if let Ok(mut broker) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                    }
                });
                l.lock().await.push(task.abort_handle());
            }
        });
        Proxy {
            addr,
            live,
            accepted,
        }
    }

    /// Closes every connection now (both sockets are dropped).
    async fn cut(&self) {
        for task in self.live.lock().await.drain(..) {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tasks_publish_through_one_handle_across_twenty_cuts() {
    let broker = tokio::task::spawn_blocking(|| Broker::any(None))
        .await
        .unwrap();
    let proxy = Proxy::start(broker.addr()).await;

    // The subscriber: a persistent session, connected directly (no cuts), counting what
    // arrives.
    let sub_options = ConnectOptions::new("tk-sub").unwrap().clean_session(false);
    let (sub, mut sub_loop) = TokioClient::new(broker.addr().to_string(), sub_options, 16).unwrap();
    let sub2 = sub.clone();
    // The publishers start once the broker answered the SUBSCRIBE (`subscribe` returns once
    // it is queued: a message published before the broker has it goes to nobody).
    let (subscribed, suback) = tokio::sync::oneshot::channel();
    let received = tokio::spawn(async move {
        let mut seen = HashSet::new();
        let mut deliveries = 0usize;
        let total = (TASKS * PER_TASK) as usize;
        let mut subscribed = Some(subscribed);
        while seen.len() < total {
            match tokio::time::timeout(Duration::from_secs(60), sub_loop.poll()).await {
                Ok(Ok(OwnedEvent::Subscribed { .. })) => {
                    let _ = subscribed.take().map(|s| s.send(()));
                }
                Ok(Ok(OwnedEvent::Message(m))) => {
                    deliveries += 1;
                    let task = u32::from(m.payload[0]);
                    let seq = u32::from_be_bytes(m.payload[1..5].try_into().unwrap());
                    seen.insert((task, seq));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("subscriber: {e}"),
                Err(_) => panic!("subscriber: no message for 60 s; {} of {total}", seen.len()),
            }
        }
        // A graceful disconnect: the handle asks, this loop carries it out.
        let bye = tokio::spawn(async move { sub2.disconnect().await });
        while !matches!(sub_loop.poll().await, Ok(OwnedEvent::Disconnected)) {}
        bye.await.unwrap().unwrap();
        (seen.len(), deliveries)
    });
    sub.subscribe("tk/#", QoS::AtLeastOnce).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), suback)
        .await
        .expect("the broker answers the SUBSCRIBE")
        .unwrap();

    // The publishers: one handle, cloned into 8 tasks, through the cutting proxy.
    let options = ConnectOptions::new("tk-pub")
        .unwrap()
        .clean_session(false)
        .keep_alive_secs(5);
    let (client, mut eventloop) = TokioClient::new(proxy.addr.to_string(), options, 64).unwrap();
    eventloop.set_backoff(Backoff::new(5, 200));
    let link_errors = Arc::new(AtomicUsize::new(0));
    let completions = Arc::new(AtomicUsize::new(0));
    let (errors, done) = (link_errors.clone(), completions.clone());
    let driver = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(OwnedEvent::Published { .. }) => {
                    done.fetch_add(1, Ordering::SeqCst);
                }
                Ok(OwnedEvent::Lost { pid, .. }) => panic!("message {pid} lost"),
                Ok(OwnedEvent::Disconnected) => return,
                Ok(_) => {}
                Err(e) => {
                    assert!(e.closes_connection(), "{e}");
                    errors.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    });
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 0..PER_TASK {
                let mut payload = vec![task as u8];
                payload.extend_from_slice(&seq.to_be_bytes());
                let pid = client
                    .publish(format!("tk/{task}"), payload, QoS::AtLeastOnce, false)
                    .await
                    .unwrap_or_else(|e| panic!("task {task} message {seq}: {e}"));
                assert!(pid.is_some());
            }
        }));
    }
    // 20 cuts while the tasks publish.
    for _ in 0..CUTS {
        tokio::time::sleep(Duration::from_millis(50)).await;
        proxy.cut().await;
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("every publish call resolves")
            .unwrap();
    }
    let (distinct, deliveries) = tokio::time::timeout(Duration::from_secs(120), received)
        .await
        .expect("the subscriber receives every message")
        .unwrap();
    client.disconnect().await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), driver)
        .await
        .unwrap()
        .unwrap();
    let connections = proxy.accepted.load(Ordering::SeqCst);
    eprintln!(
        "tokio handle: {TASKS} tasks x {PER_TASK} QoS 1 messages, {CUTS} cuts, {connections} \
         publisher connections, {} link errors seen by poll, {} completions, {deliveries} \
         deliveries of {distinct} distinct messages",
        link_errors.load(Ordering::SeqCst),
        completions.load(Ordering::SeqCst),
    );
    assert_eq!(distinct, (TASKS * PER_TASK) as usize);
    assert!(
        connections > CUTS / 2,
        "the cuts did not happen while publishing"
    );
}

/// A clean session loses what was in flight at each cut, QoS 2 messages the broker had
/// received (PUBREC) included: the event loop reports each as `Lost` with its content (it
/// keeps a copy of every QoS 2 message until PUBCOMP), so publishing those again delivers all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_messages_a_new_session_lost_are_published_again_by_the_event_loop() {
    const MESSAGES: u32 = 1_000;
    let broker = tokio::task::spawn_blocking(|| Broker::any(None))
        .await
        .unwrap();
    let proxy = Proxy::start(broker.addr()).await;
    let sub_options = ConnectOptions::new("tk2-sub").unwrap().clean_session(false);
    let (sub, mut sub_loop) = TokioClient::new(broker.addr().to_string(), sub_options, 16).unwrap();
    sub.subscribe("tk2/#", QoS::ExactlyOnce).await.unwrap();
    let (subscribed, suback) = tokio::sync::oneshot::channel();
    let received = tokio::spawn(async move {
        let mut seen = HashSet::new();
        let mut subscribed = Some(subscribed);
        while seen.len() < MESSAGES as usize {
            match tokio::time::timeout(Duration::from_secs(60), sub_loop.poll()).await {
                Ok(Ok(OwnedEvent::Subscribed { .. })) => {
                    let _ = subscribed.take().map(|s| s.send(()));
                }
                Ok(Ok(OwnedEvent::Message(m))) => {
                    seen.insert(u32::from_be_bytes(m.payload[..4].try_into().unwrap()));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("subscriber: {e}"),
                Err(_) => panic!("subscriber: {} of {MESSAGES} after 60 s quiet", seen.len()),
            }
        }
        seen.len()
    });
    // Publishing starts once the broker answered the SUBSCRIBE.
    tokio::time::timeout(Duration::from_secs(30), suback)
        .await
        .expect("the broker answers the SUBSCRIBE")
        .unwrap();

    let (client, mut eventloop) = TokioClient::new(
        proxy.addr.to_string(),
        ConnectOptions::new("tk2-pub").unwrap(),
        64,
    )
    .unwrap();
    eventloop.set_backoff(Backoff::new(5, 200));
    // The event loop publishes again what a new session lost: nothing is reported lost.
    let lost = Arc::new(AtomicUsize::new(0));
    let l = lost.clone();
    let driver = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(OwnedEvent::Lost { .. }) => drop(l.fetch_add(1, Ordering::SeqCst)),
                Ok(OwnedEvent::Disconnected) => return,
                _ => {}
            }
        }
    });
    for n in 0..MESSAGES {
        if n % 100 == 50 {
            proxy.cut().await;
        }
        client
            .publish("tk2/m", n.to_be_bytes().to_vec(), QoS::ExactlyOnce, false)
            .await
            .unwrap();
    }
    let distinct = tokio::time::timeout(Duration::from_secs(120), received)
        .await
        .expect("the subscriber receives every message")
        .unwrap();
    client.disconnect().await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), driver)
        .await
        .unwrap()
        .unwrap();
    eprintln!("tokio handle: {MESSAGES} QoS 2 messages, 10 cuts, every one delivered");
    assert_eq!(distinct, MESSAGES as usize);
    assert_eq!(
        lost.load(Ordering::SeqCst),
        0,
        "published again, not reported"
    );
}

/// Reads one MQTT packet: its first byte and body.
async fn read_packet(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await.ok()?;
    let first = b[0];
    let (mut len, mut shift) = (0usize, 0);
    loop {
        s.read_exact(&mut b).await.ok()?;
        len |= usize::from(b[0] & 0x7f) << shift;
        shift += 7;
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.ok()?;
    Some((first, body))
}

/// What the scripted broker does with a packet: the bytes to answer, and whether to close.
type Script = dyn Fn(usize, u8, &[u8]) -> (Vec<u8>, bool) + Send + Sync;

/// A broker answering by `script(connection number, first byte, body)`; every packet it
/// receives is logged as (connection, first byte).
async fn scripted(script: Arc<Script>, log: mpsc::UnboundedSender<(usize, u8)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let n = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let conn = n.fetch_add(1, Ordering::SeqCst);
            let (script, log) = (script.clone(), log.clone());
            tokio::spawn(async move {
                while let Some((first, body)) = read_packet(&mut s).await {
                    let _ = log.send((conn, first));
                    let (answer, close) = script(conn, first, &body);
                    if !answer.is_empty() && s.write_all(&answer).await.is_err() {
                        return;
                    }
                    if close {
                        return;
                    }
                }
            });
        }
    });
    addr
}

const CONNACK: [u8; 4] = [0x20, 2, 0, 0];

#[tokio::test]
async fn after_disconnect_calls_fail_and_the_event_loop_is_done() {
    let (log, _packets) = mpsc::unbounded_channel();
    let script: Arc<Script> = Arc::new(|_, first, _| match first >> 4 {
        1 => (CONNACK.to_vec(), false),
        14 => (vec![], true),
        _ => (vec![], false),
    });
    let addr = scripted(script, log).await;
    let (client, mut eventloop) =
        TokioClient::new(addr, ConnectOptions::new("end").unwrap(), 8).unwrap();
    let bye = client.clone();
    tokio::spawn(async move { bye.disconnect().await });
    while !matches!(eventloop.poll().await, Ok(OwnedEvent::Disconnected)) {}
    assert!(eventloop.is_done());
    let late = tokio::time::timeout(
        Duration::from_secs(5),
        client.publish("t", "x", QoS::AtLeastOnce, false),
    )
    .await
    .expect("a call after the end is answered");
    assert!(
        matches!(late, Err(Error::Link(LinkError::NotConnected))),
        "{late:?}"
    );
    let after = eventloop.poll().await;
    assert!(
        matches!(after, Err(Error::Link(LinkError::NotConnected))),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_publish_waiting_for_room_survives_cancelled_polls() {
    let (log, _packets) = mpsc::unbounded_channel();
    // PUBACK for the first message only 400 ms after it arrived; the window is 1.
    let script: Arc<Script> = Arc::new(|_, first, body| match first >> 4 {
        1 => (CONNACK.to_vec(), false),
        3 => {
            let at = 2 + usize::from(body[1]);
            let ack = vec![0x40, 2, body[at], body[at + 1]];
            std::thread::sleep(Duration::from_millis(400));
            (ack, false)
        }
        _ => (vec![], false),
    });
    let addr = scripted(script, log).await;
    let options = ConnectOptions::new("cancel").unwrap().max_inflight(1);
    let (client, mut eventloop) = TokioClient::new(addr, options, 8).unwrap();
    let publisher = tokio::spawn(async move {
        let first = client.publish("t", "1", QoS::AtLeastOnce, false).await;
        let second = client.publish("t", "2", QoS::AtLeastOnce, false).await;
        (first, second)
    });
    for _ in 0..50 {
        let _ = tokio::time::timeout(Duration::from_millis(50), eventloop.poll()).await;
        if publisher.is_finished() {
            break;
        }
    }
    let (first, second) = publisher.await.unwrap();
    assert!(first.unwrap().is_some());
    assert!(
        second.unwrap().is_some(),
        "the waiting publish was carried out"
    );
}

#[tokio::test]
async fn a_subscribe_lost_across_a_resumed_session_is_sent_again() {
    let (log, mut packets) = mpsc::unbounded_channel();
    let script: Arc<Script> = Arc::new(|conn, first, body| match (conn, first >> 4) {
        (0, 1) => (CONNACK.to_vec(), false),
        (0, 8) => (vec![], true),               // cut before the SUBACK
        (_, 1) => (vec![0x20, 2, 1, 0], false), // the session is resumed
        (_, 8) => (vec![0x90, 3, body[0], body[1], 1], false),
        _ => (vec![], false),
    });
    let addr = scripted(script, log).await;
    let options = ConnectOptions::new("resub").unwrap().clean_session(false);
    let (client, mut eventloop) = TokioClient::new(addr, options, 8).unwrap();
    eventloop.set_backoff(Backoff::new(10, 10));
    client.subscribe("a/#", QoS::AtLeastOnce).await.unwrap();
    let mut events = vec![];
    while !events
        .iter()
        .any(|e| matches!(e, OwnedEvent::Subscribed { .. }))
    {
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            Ok(Ok(e)) => events.push(e),
            Ok(Err(e)) => assert!(e.closes_connection(), "{e}"),
            Err(_) => panic!("no SUBACK; events {events:?}"),
        }
    }
    let mut sent = vec![];
    while let Ok(p) = packets.try_recv() {
        sent.push(p);
    }
    assert!(sent.contains(&(1, 0x82)), "SUBSCRIBE sent again: {sent:x?}");
    assert!(
        !events.iter().any(|e| matches!(e, OwnedEvent::Lost { .. })),
        "a subscribe sent again is not reported lost: {events:?}"
    );
}

#[tokio::test]
async fn a_refusal_ends_the_event_loop_after_one_attempt() {
    let (log, mut packets) = mpsc::unbounded_channel();
    let script: Arc<Script> = Arc::new(|_, first, _| match first >> 4 {
        1 => (vec![0x20, 2, 0, 5], true), // not authorized
        _ => (vec![], false),
    });
    let addr = scripted(script, log).await;
    let (_client, mut eventloop) =
        TokioClient::new(addr, ConnectOptions::new("no").unwrap(), 8).unwrap();
    let refused = eventloop.poll().await.unwrap_err();
    let not_authorized = BrokerError::Refused(ConnectReturnCode::NotAuthorized);
    assert!(
        matches!(refused, Error::Broker(e) if e == not_authorized),
        "{refused:?}"
    );
    assert!(eventloop.is_done());
    assert!(eventloop.poll().await.is_err());
    let mut connects = 0;
    while packets.try_recv().is_ok() {
        connects += 1;
    }
    assert_eq!(connects, 1);
}

/// Issue 21, defect 6: with the default backoff, a first connection that fails hung `poll`
/// without a word (only `max_attempts` brought the error out). Every failed attempt reaches
/// `poll`; polling again tries again after the backoff.
#[tokio::test]
async fn every_failed_connection_attempt_reaches_poll() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_client, mut eventloop) = TokioClient::new(
        format!("127.0.0.1:{port}"),
        ConnectOptions::new("nobody").unwrap(),
        8,
    )
    .unwrap();
    for attempt in 0..3 {
        let e = tokio::time::timeout(Duration::from_secs(5), eventloop.poll())
            .await
            .unwrap_or_else(|_| panic!("attempt {attempt}: poll said nothing for 5 s"))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused),
            "attempt {attempt}: {e}"
        );
        assert!(!eventloop.is_done(), "the loop goes on when polled again");
    }
}

/// Issue 21, defect 7: `publish` returned the id, then a broker restart with
/// session_present = 0 reported the message `Lost` and it was never sent again. The event
/// loop publishes it again, as `StdClient` does.
#[tokio::test]
async fn a_message_a_new_session_lost_is_published_again() {
    let (log, mut packets) = mpsc::unbounded_channel();
    let script: Arc<Script> = Arc::new(|conn, first, body| match (conn, first >> 4) {
        (_, 1) => (CONNACK.to_vec(), false), // never a session: a restarted broker
        (0, 3) => (vec![], true),            // the first PUBLISH: cut before its PUBACK
        (_, 3) => {
            let at = 2 + usize::from(body[1]);
            (vec![0x40, 2, body[at], body[at + 1]], false)
        }
        _ => (vec![], false),
    });
    let addr = scripted(script, log).await;
    let options = ConnectOptions::new("again").unwrap().clean_session(false);
    let (client, mut eventloop) = TokioClient::new(addr, options, 8).unwrap();
    eventloop.set_backoff(Backoff::new(10, 10));
    let publisher = tokio::spawn(async move {
        let pid = client.publish("t", "m", QoS::AtLeastOnce, false).await;
        (client, pid)
    });
    let mut events = vec![];
    while !events
        .iter()
        .any(|e| matches!(e, OwnedEvent::Published { .. }))
    {
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            Ok(Ok(e)) => events.push(e),
            Ok(Err(e)) => assert!(e.closes_connection(), "{e}"),
            Err(_) => panic!("never acknowledged; events {events:?}"),
        }
    }
    let (_client, pid) = publisher.await.unwrap();
    assert!(pid.unwrap().is_some());
    assert!(
        !events.iter().any(|e| matches!(e, OwnedEvent::Lost { .. })),
        "published again, not reported lost: {events:?}"
    );
    let mut sent = vec![];
    while let Ok(p) = packets.try_recv() {
        sent.push(p);
    }
    assert!(
        sent.contains(&(1, 0x30 | 2)),
        "PUBLISH sent again: {sent:x?}"
    );
}

/// A CONNACK with session_present = 1 on a clean session (a broker breaking MQTT-3.2.2-1)
/// made the event loop skip restoring the subscriptions.
#[tokio::test]
async fn session_present_on_a_clean_session_still_restores_subscriptions() {
    let (log, mut packets) = mpsc::unbounded_channel();
    let script: Arc<Script> = Arc::new(|conn, first, body| match (conn, first >> 4) {
        (0, 1) => (CONNACK.to_vec(), false),
        (_, 1) => (vec![0x20, 2, 1, 0], false), // "session present", on a clean session
        (0, 8) => (vec![0x90, 3, body[0], body[1], 1], true), // SUBACK, then cut
        (_, 8) => (vec![0x90, 3, body[0], body[1], 1], false),
        _ => (vec![], false),
    });
    let addr = scripted(script, log).await;
    let (client, mut eventloop) =
        TokioClient::new(addr, ConnectOptions::new("clean").unwrap(), 8).unwrap();
    eventloop.set_backoff(Backoff::new(10, 10));
    client.subscribe("a/#", QoS::AtLeastOnce).await.unwrap();
    let mut subacks = 0;
    while subacks < 2 {
        match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
            Ok(Ok(OwnedEvent::Subscribed { .. })) => subacks += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => assert!(e.closes_connection(), "{e}"),
            Err(_) => {
                let sent: Vec<_> = std::iter::from_fn(|| packets.try_recv().ok()).collect();
                panic!("subscription not restored; sent {sent:x?}")
            }
        }
    }
}

/// Issue 21: a poll cancelled (a `timeout` around it) while a publish waited on a stalled
/// write carried the publish out again at the next poll: one QoS 2 `publish` became 14
/// distinct QoS 2 messages. The broker here reads nothing for 1.5 s while 100 QoS 0 messages
/// of 60 KB and then a QoS 2 one are published, and every poll is cut short after 20 ms:
/// each message must arrive once (QoS 0: at most once), the QoS 2 one exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_polls_during_a_stalled_write_publish_nothing_twice() {
    const BIG: u32 = 100;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let broker = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_packet(&mut s).await.unwrap(); // CONNECT
        s.write_all(&CONNACK).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1_500)).await; // the client's writes stall
        let mut seen = std::collections::HashMap::<u32, u32>::new();
        let mut qos2 = HashSet::new();
        while let Some((first, body)) = read_packet(&mut s).await {
            match first >> 4 {
                3 => {
                    let qos = (first >> 1) & 3;
                    let at = 2 + usize::from(body[1]);
                    let payload = if qos > 0 { at + 2 } else { at };
                    let index = u32::from_be_bytes(body[payload..payload + 4].try_into().unwrap());
                    *seen.entry(index).or_default() += 1;
                    if qos == 2 {
                        let pid = [body[at], body[at + 1]];
                        qos2.insert(pid);
                        s.write_all(&[0x50, 2, pid[0], pid[1]]).await.unwrap(); // PUBREC
                    }
                }
                6 => s.write_all(&[0x70, 2, body[0], body[1]]).await.unwrap(), // PUBCOMP
                14 => break,
                _ => {}
            }
        }
        (seen, qos2)
    });
    let (client, mut eventloop) =
        TokioClient::new(addr, ConnectOptions::new("stall").unwrap(), 8).unwrap();
    let message = |i: u32| {
        let mut m = i.to_be_bytes().to_vec();
        m.resize(60_000, 0);
        m
    };
    let publisher = tokio::spawn(async move {
        for i in 0..BIG {
            client
                .publish("q0", message(i), QoS::AtMostOnce, false)
                .await
                .unwrap();
        }
        let pid = client
            .publish("q2", message(BIG), QoS::ExactlyOnce, false)
            .await;
        (client, pid.unwrap())
    });
    let mut completed = false;
    for _ in 0..3_000 {
        match tokio::time::timeout(Duration::from_millis(20), eventloop.poll()).await {
            Ok(Ok(OwnedEvent::Published {
                qos: QoS::ExactlyOnce,
                ..
            })) => completed = true,
            Ok(Err(e)) => panic!("{e}"),
            _ => {}
        }
        if completed && publisher.is_finished() {
            break;
        }
    }
    assert!(completed, "the QoS 2 message was never completed");
    let (client, pid) = publisher.await.unwrap();
    assert!(pid.is_some());
    let bye = tokio::spawn(async move { client.disconnect().await });
    while !matches!(eventloop.poll().await, Ok(OwnedEvent::Disconnected)) {}
    bye.await.unwrap().unwrap();
    let (seen, qos2) = broker.await.unwrap();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "published more than once: {twice:?}");
    assert_eq!(seen.get(&BIG), Some(&1), "the QoS 2 message");
    assert_eq!(
        qos2.len(),
        1,
        "distinct QoS 2 messages at the broker: {qos2:?}"
    );
}

/// Review of the fix: a disconnect whose poll was cancelled while it drained (waiting for a
/// PUBREL) was carried out again as a new one, which the core refused: the event loop ended
/// without ever sending DISCONNECT (the broker then publishes the will). It goes on instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_cancelled_while_it_drains_still_sends_disconnect() {
    let (log, mut packets) = mpsc::unbounded_channel();
    let script: Arc<Script> = Arc::new(|_, first, _| match first >> 4 {
        // CONNACK, then a QoS 2 message (id 7) whose PUBREL comes 400 ms after PUBREC.
        1 => (
            [&CONNACK[..], &[0x34, 6, 0, 1, b't', 0, 7, b'm']].concat(),
            false,
        ),
        5 => {
            std::thread::sleep(Duration::from_millis(400));
            (vec![0x62, 2, 0, 7], false)
        }
        14 => (vec![], true),
        _ => (vec![], false),
    });
    let addr = scripted(script, log).await;
    let (client, mut eventloop) =
        TokioClient::new(addr, ConnectOptions::new("drain").unwrap(), 8).unwrap();
    while !matches!(eventloop.poll().await, Ok(OwnedEvent::Message(_))) {}
    let bye = tokio::spawn(async move { client.disconnect().await });
    let mut done = false;
    for _ in 0..200 {
        if let Ok(Ok(OwnedEvent::Disconnected)) =
            tokio::time::timeout(Duration::from_millis(20), eventloop.poll()).await
        {
            done = true;
            break;
        }
    }
    assert!(done, "never disconnected");
    bye.await.unwrap().unwrap();
    // What the broker read, up to the DISCONNECT (it reads on after its 400 ms pause).
    let mut firsts = vec![];
    while firsts.last() != Some(&0xE0) {
        match tokio::time::timeout(Duration::from_secs(5), packets.recv()).await {
            Ok(Some((_, first))) => firsts.push(first),
            _ => break,
        }
    }
    assert!(
        firsts.ends_with(&[0x70, 0xE0]),
        "PUBCOMP then DISCONNECT: {firsts:x?}"
    );
}

/// Past the backoff's limit: with `max_attempts(2)` the second failed attempt ends the event
/// loop (returned once), and every poll after it is `NotConnected`.
#[tokio::test]
async fn the_backoffs_last_attempt_ends_the_event_loop() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (client, mut eventloop) = TokioClient::new(
        format!("127.0.0.1:{port}"),
        ConnectOptions::new("limited").unwrap(),
        8,
    )
    .unwrap();
    eventloop.set_backoff(Backoff::new(10, 10).max_attempts(2));
    for attempt in 0..2 {
        let e = tokio::time::timeout(Duration::from_secs(5), eventloop.poll())
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(e, Error::Io(_)), "attempt {attempt}: {e}");
        assert_eq!(eventloop.is_done(), attempt == 1, "after attempt {attempt}");
    }
    let after = eventloop.poll().await;
    assert!(
        matches!(after, Err(Error::Link(LinkError::NotConnected))),
        "{after:?}"
    );
    let late = client.publish("t", "x", QoS::AtLeastOnce, false).await;
    assert!(
        matches!(late, Err(Error::Link(LinkError::NotConnected))),
        "{late:?}"
    );
}

/// The tokio form of `std_client`'s test: publish and disconnect at once, then drop the event
/// loop. Every message reaches the broker and the will does not fire (a socket closed with
/// the broker's PUBACKs unread sends a reset, and the broker drops what it had not read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_right_after_publishing_loses_nothing_and_fires_no_will() {
    let broker = tokio::task::spawn_blocking(|| Broker::any(None))
        .await
        .unwrap();
    let addr = broker.addr();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ready, subscribed) = std::sync::mpsc::channel();
    let finished = done.clone();
    let watcher = std::thread::spawn(move || {
        let options = ConnectOptions::new("closer-watch").unwrap();
        let (mut sub, _) = Conn::connect(addr, options, 4096).unwrap();
        sub.subscribe("tclose/#", QoS::AtLeastOnce).unwrap();
        ready.send(()).unwrap();
        let (mut messages, mut wills) = (HashSet::new(), Vec::new());
        loop {
            match sub.recv(Duration::from_millis(500)).unwrap() {
                Some(m) => {
                    let payload = String::from_utf8_lossy(&m.payload).into_owned();
                    match m.topic.as_str() {
                        "tclose/will" => wills.push(payload),
                        _ => drop(messages.insert(payload)),
                    }
                }
                None if finished.load(Ordering::SeqCst) => return (messages, wills),
                None => {}
            }
        }
    });
    subscribed.recv().unwrap();
    const ROUNDS: usize = 5;
    for round in 0..ROUNDS {
        let id = format!("tcloser-{round}");
        let options = ConnectOptions::new(&id)
            .unwrap()
            .will("tclose/will", id.as_bytes(), QoS::AtLeastOnce, false)
            .unwrap();
        let (client, mut eventloop) = TokioClient::new(addr.to_string(), options, 64).unwrap();
        let publisher = client.clone();
        let id2 = id.clone();
        let task = tokio::spawn(async move {
            for i in 0..10 {
                let payload = format!("{id2} {i}");
                publisher
                    .publish("tclose/m", payload, QoS::AtLeastOnce, false)
                    .await
                    .unwrap();
            }
            publisher.disconnect().await.unwrap();
        });
        while !eventloop.is_done() {
            let _ = eventloop.poll().await;
        }
        task.await.unwrap();
        drop((client, eventloop));
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // a will fires at once
    done.store(true, Ordering::SeqCst);
    let (messages, wills) = watcher.join().unwrap();
    assert!(wills.is_empty(), "wills fired: {wills:?}");
    assert_eq!(messages.len(), ROUNDS * 10, "{} arrived", messages.len());
}
