//! What an adversarial review of the core proved (issue 21), each defect as the exact
//! scenario that failed: scripted broker bytes and a fake clock, through the three drivers
//! where the driver matters, the sans-IO `Client` alone where it does not.

mod support;

use support::scripted::*;
use umqtt::client::SnapshotError;
use umqtt::packet::*;
use umqtt::topic::TopicName;
use umqtt::{BrokerError, CallerError, Client, ConnectOptions, Error, Event, LinkError};

fn persisting() -> ConnectOptions<'static> {
    ConnectOptions::new("p1")
        .unwrap()
        .keep_alive_secs(0)
        .clean_session(false)
        .persist_session(true)
}

/// The sans-IO client, driven by hand: what it wants to write now, written at `now`.
fn written(c: &mut Client<Vec<u8>>, now: u64) -> Vec<u8> {
    let out = c.poll_transmit().to_vec();
    c.transmitted(out.len(), now);
    out
}

/// The broker's bytes, read into the client.
fn feed(c: &mut Client<Vec<u8>>, bytes: &[u8]) {
    let space = c.rx_space();
    space[..bytes.len()].copy_from_slice(bytes);
    c.received(bytes.len());
}

/// Connects `c` (CONNECT written, CONNACK read), handing any session save out as done.
fn connected(c: &mut Client<Vec<u8>>) {
    c.connect(0).unwrap();
    while !written(c, 0).starts_with(&[0x10]) {
        c.poll(0).unwrap(); // a save due first
    }
    feed(c, &connack(false, ConnectReturnCode::Accepted));
    loop {
        match c.poll(0).unwrap() {
            Some(Event::Connected { .. }) => return,
            Some(_) => {}
            None => panic!("no CONNACK event"),
        }
    }
}

/// The broker's new QoS 2 message `n`: handed out once, PUBREC written.
fn takes_qos2(c: &mut Client<Vec<u8>>, n: u16) {
    feed(c, &publish("in", b"two", q2(n), false));
    let got = c.poll(0);
    assert!(matches!(got, Ok(Some(Event::Message(_)))), "{n}: {got:?}");
    assert!(c.poll(0).unwrap().is_none());
    assert_eq!(written(c, 0), pubrec(n));
}

/// Defect 1: firmware A (tx 4 KiB) persists a 3,000-byte QoS 1 message; firmware B (tx 1 KiB)
/// could restore it and then stalled for good. The snapshot is refused up front.
#[test]
fn a_snapshot_holding_a_message_larger_than_tx_is_refused() {
    let mut a = Client::new(persisting(), vec![0; 256], vec![0; 4096], vec![0; 8192]).unwrap();
    connected(&mut a);
    let topic = TopicName::new("big").unwrap();
    let pid = a
        .publish(topic, &[7; 3000], QoS::AtLeastOnce, false)
        .unwrap();
    assert!(pid.is_some());
    let snapshot = match a.poll(0).unwrap() {
        Some(Event::SaveSession(s)) => {
            let mut buf = vec![0; s.snapshot_len(0)];
            let n = s.write_snapshot(&[], &mut buf).unwrap();
            buf.truncate(n);
            buf
        }
        other => panic!("expected a save, got {other:?}"),
    };
    let mut b = Client::new(persisting(), vec![0; 256], vec![0; 1024], vec![0; 8192]).unwrap();
    let refused = b.restore_session(&snapshot);
    assert_eq!(
        refused.unwrap_err(),
        SnapshotError::TxTooSmall { needed: 3010 }
    );
    // Left as it was: an empty session, and it works.
    assert_eq!(b.unacknowledged().count(), 0);
    connected(&mut b);
    let pid = b.publish(topic, b"small", QoS::AtLeastOnce, false).unwrap();
    assert!(pid.is_some());
    assert!(matches!(b.poll(0), Ok(Some(Event::SaveSession(_)))));
    assert!(written(&mut b, 0).starts_with(&[0x32]));
    // The same snapshot on a tx that holds the message: restored.
    let mut c = Client::new(persisting(), vec![0; 256], vec![0; 3010], vec![0; 8192]).unwrap();
    c.restore_session(&snapshot).unwrap();
    assert_eq!(c.unacknowledged().count(), 1);
}

/// Defects 2 and 3: a failed flash save did not stop the PUBLISH that depended on it, and
/// the next connection did not ask for the save again.
#[test]
fn a_failed_save_writes_nothing_that_depends_on_it_and_is_asked_again() {
    each(persisting, 256, |d, net| {
        net.reconnect(vec![
            Step::Expect(connect_bytes(false, "p1", 0)),
            Step::Send(connack(false, ConnectReturnCode::Accepted)),
        ]);
        d.connect().unwrap();
        net.fail_saves.set(1);
        // The scripted broker fails the test on any byte written now.
        let r = d.publish("s", b"one", QoS::AtLeastOnce, false);
        assert_eq!(r.unwrap_err(), Error::Caller(CallerError::SessionNotSaved));
        assert_eq!(
            net.fail_saves.get(),
            0,
            "{}: the save was not asked",
            d.name()
        );
        assert_eq!(d.publish("s", b"x", QoS::AtMostOnce, false).unwrap_err(), {
            Error::Link(LinkError::NotConnected)
        });
        // The next connection saves before its CONNECT, and the dropped message is not sent.
        let saves = |d: &dyn Drive| {
            let h = d.handled().borrow();
            h.iter().filter(|e| matches!(e, Ev::SaveSession(_))).count()
        };
        let before = saves(d);
        net.reconnect(vec![
            Step::Expect(connect_bytes(false, "p1", 0)),
            Step::Send(connack(true, ConnectReturnCode::Accepted)),
            Step::Expect(publish("s", b"one", q1(2), false)),
            Step::Send(puback(2)),
        ]);
        d.new_transport(net.io(IoCfg::WHOLE));
        assert!(d.connect().unwrap());
        assert!(saves(d) > before, "{}: no save before CONNECT", d.name());
        // Published again: it goes out (after its save) and completes.
        let pid2 = d.publish("s", b"one", QoS::AtLeastOnce, false).unwrap();
        assert_eq!(pid2, Some(pid(2)));
        d.wait_published().unwrap();
    });
}

/// Defect 4: a graceful disconnect waiting for a PUBREL sent nothing for the whole response
/// timeout (10 s) with a 5 s keep-alive; keep-alive runs while it drains.
#[test]
fn keep_alive_runs_while_a_disconnect_drains() {
    let opts = || ConnectOptions::new("c1").unwrap().keep_alive_secs(5);
    each(opts, 256, |d, net| {
        net.reconnect(vec![
            Step::Expect(connect_bytes(true, "c1", 5)),
            Step::Send(connack(false, ConnectReturnCode::Accepted)),
            Step::Send(publish("in", b"two", q2(7), false)),
            Step::Expect(pubrec(7)),
        ]);
        d.connect().unwrap();
        assert!(matches!(d.next_event().unwrap(), Ev::Message { .. }));
        d.write_out();
        net.reconnect(vec![
            Step::Expect(pingreq()),
            Step::Send(pingresp()),
            Step::Send(pubrel(7)),
            Step::Expect(pubcomp(7)),
            Step::Expect(disconnect()),
        ]);
        let from = net.now();
        let sent_before = net.broker.borrow().matched_at.len();
        d.disconnect().unwrap();
        let b = net.broker.borrow();
        let ping_at = b.matched_at[sent_before];
        assert!(
            ping_at - from <= 5_000,
            "{}: PINGREQ {} ms into the drain",
            d.name(),
            ping_at - from
        );
    });
}

/// Defect 5: with streaming on, a SUBACK announcing 2 MB into a 256-byte rx was never refused
/// (only PUBLISH may stream).
#[test]
fn with_streaming_an_oversized_non_publish_is_refused_at_its_header() {
    let opts = || {
        ConnectOptions::new("c1")
            .unwrap()
            .keep_alive_secs(0)
            .stream_oversized(true)
    };
    each(opts, 256, |d, net| {
        // SUBACK, Remaining Length 2,000,000, then two bytes of body.
        let mut hostile = vec![0x90];
        let mut n: u32 = 2_000_000;
        loop {
            let byte = (n % 128) as u8;
            n /= 128;
            hostile.push(if n > 0 { byte | 0x80 } else { byte });
            if n == 0 {
                break;
            }
        }
        hostile.extend([0, 1]);
        net.reconnect(vec![
            Step::Expect(connect_bytes(true, "c1", 0)),
            Step::Send(connack(false, ConnectReturnCode::Accepted)),
            Step::Send(hostile),
        ]);
        d.connect().unwrap();
        let e = d.next_event().unwrap_err();
        assert!(
            matches!(
                e,
                Error::Broker(BrokerError::PacketTooLarge { capacity: 256, .. })
            ),
            "{}: {e:?}",
            d.name()
        );
    });
}

/// A PINGREQ that did not fit tx (the link's window closed, tx full) was skipped and the link
/// never declared dead.
#[test]
fn a_link_that_takes_no_bytes_is_declared_dead_even_with_tx_full() {
    let opts = ConnectOptions::new("c1").unwrap().keep_alive_secs(5);
    let mut c = Client::new(opts, vec![0; 256], vec![0; 64], vec![0; 1024]).unwrap();
    c.connect(0).unwrap();
    let n = c.poll_transmit().len();
    c.transmitted(n, 0);
    feed(&mut c, &connack(false, ConnectReturnCode::Accepted));
    assert!(matches!(c.poll(0), Ok(Some(Event::Connected { .. }))));
    // tx full of a QoS 0 message the link never takes.
    let topic = TopicName::new("t").unwrap();
    c.publish(topic, &[1; 58], QoS::AtMostOnce, false).unwrap();
    assert!(c.poll_transmit().len() > 60);
    let mut now = 0;
    let dead = loop {
        now += 100;
        assert!(now < 60_000, "still alive after 60 s with nothing sent");
        if let Err(e) = c.poll(now) {
            break e;
        }
    };
    assert_eq!(dead, Error::Link(LinkError::PingTimeout));
    // Keep-alive (5 s, less the margin) plus the response timeout (10 s).
    assert!(now <= 4_000 + 10_000 + 100, "declared dead at {now} ms");
}

/// A transport that takes at most 7 bytes a write and answers every other write `Pending`
/// (so an async call can be cut at each await), acknowledging CONNECT with CONNACK.
#[derive(Default)]
struct Stutter {
    inbox: std::collections::VecDeque<u8>,
    sent: Vec<u8>,
    writes: u32,
}

impl embedded_io_async::ErrorType for Stutter {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Read for Stutter {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        std::future::poll_fn(|_| match self.inbox.pop_front() {
            Some(b) => {
                buf[0] = b;
                std::task::Poll::Ready(Ok(1))
            }
            None => std::task::Poll::Pending,
        })
        .await
    }
}

impl embedded_io_async::Write for Stutter {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
        let mut pending = self.writes.is_multiple_of(2);
        self.writes += 1;
        std::future::poll_fn(|cx| {
            if std::mem::take(&mut pending) {
                cx.waker().wake_by_ref();
                return std::task::Poll::Pending;
            }
            std::task::Poll::Ready(())
        })
        .await;
        if self.sent.is_empty() && buf.first() == Some(&0x10) {
            self.inbox
                .extend(connack(false, ConnectReturnCode::Accepted));
        }
        let n = buf.len().min(7);
        self.sent.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    async fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
        Ok(())
    }
}

struct NoDelay;

impl embedded_hal_async::delay::DelayNs for NoDelay {
    async fn delay_ns(&mut self, _: u32) {}
}

/// An async `publish_from` cancelled mid-payload left the connection stuck (every later call
/// waited for a payload nobody would write). Cut at every await point in turn: the next call
/// closes the connection with a typed error, or, cut before the head was queued, works.
#[test]
fn an_async_publish_from_cancelled_mid_payload_closes_cleanly() {
    use std::future::Future;
    let payload = vec![5u8; 300];
    let mut cut_mid_payload = 0;
    for polls in 1.. {
        let opts = ConnectOptions::new("c1").unwrap().keep_alive_secs(0);
        let client = Client::new(opts, vec![0; 256], vec![0; 64], vec![0; 1024]).unwrap();
        let clock = || 0u64;
        let mut d = umqtt::Async::new(client, Stutter::default(), clock, NoDelay, |_| {});
        embassy_futures::block_on(d.connect()).unwrap();
        let mut src = Source::new(payload.clone(), 40);
        let done = {
            let fut = d.publish_from("big", payload.len(), QoS::AtLeastOnce, false, &mut src);
            let mut fut = std::pin::pin!(fut);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            (0..polls).any(|_| fut.as_mut().poll(&mut cx).is_ready())
        };
        if done {
            assert!(cut_mid_payload > 0, "never cut mid-payload");
            break;
        }
        let mid = d.client().payload_due() > 0;
        let next = embassy_futures::block_on(d.publish("t", "x", QoS::AtMostOnce, false));
        if mid {
            cut_mid_payload += 1;
            assert_eq!(
                next.unwrap_err(),
                Error::Caller(CallerError::PayloadCancelled),
                "cut after {polls} polls"
            );
            assert_eq!(d.client().state(), umqtt::client::State::Closed);
        } else {
            assert!(next.is_ok(), "cut after {polls} polls: {next:?}");
        }
    }
}

/// A burst of the broker's QoS 2 messages while our own window filled the store closed the
/// connection with `StoreFull` after the first (the reserve was one entry: mosquitto, 2 KiB
/// store, 7–11 of 40 delivered). The store keeps a table for the broker's in-flight window
/// (`inbound_window`, 20 by default); past it, ids go to the log while it has room, then the
/// next is refused.
#[test]
fn a_burst_of_inbound_qos2_within_the_window_is_tracked_past_it_refused() {
    let opts = ConnectOptions::new("c1")
        .unwrap()
        .keep_alive_secs(0)
        .max_inflight(1_000);
    let mut c = Client::new(opts, vec![0; 256], vec![0; 4096], vec![0; 2048]).unwrap();
    connected(&mut c);
    let topic = TopicName::new("t").unwrap();
    let mut ours = 0;
    while let Ok(pid) = c.publish(topic, &[1; 50], QoS::AtLeastOnce, false) {
        assert!(pid.is_some());
        ours += 1;
        written(&mut c, 0);
    }
    assert!(ours > 20, "our window holds {ours}");
    for n in 1..=20u16 {
        takes_qos2(&mut c, n);
    }
    // Past the window: tracked while the log has bytes, then refused (never dropped).
    let mut n = 20;
    let e = loop {
        n += 1;
        assert!(n <= 100, "the store never filled");
        feed(&mut c, &publish("in", b"two", q2(n), false));
        match c.poll(0) {
            Ok(Some(Event::Message(_))) => {}
            Ok(other) => panic!("message {n}: {other:?}"),
            Err(e) => break e,
        }
        assert!(c.poll(0).unwrap().is_none());
        written(&mut c, 0);
    };
    assert_eq!(e, Error::Broker(BrokerError::StoreFull));
    assert!(n <= 21 + 224 / 8, "refused only at {n}");
    assert!(
        c.poll_transmit().is_empty(),
        "no PUBREC for the refused one"
    );
}

/// A broker past its in-flight window (mosquitto 2.0 lets it grow while messages queue for
/// the client): the ids beyond the inbound table go to the log, each still delivered once,
/// recognised when repeated and released by its PUBREL, beside the table's; a new session
/// forgets them all.
#[test]
fn the_brokers_qos2_ids_past_the_window_are_tracked_in_the_log() {
    let opts = ConnectOptions::new("c1")
        .unwrap()
        .keep_alive_secs(0)
        .clean_session(false)
        .inbound_window(2);
    let mut c = Client::new(opts, vec![0; 256], vec![0; 256], vec![0; 4096]).unwrap();
    connected(&mut c);
    for n in 1..=5u16 {
        takes_qos2(&mut c, n);
    }
    for n in [1u16, 4] {
        feed(&mut c, &publish("in", b"two", q2(n), true));
        assert!(c.poll(0).unwrap().is_none(), "{n} delivered twice");
        assert_eq!(written(&mut c, 0), pubrec(n));
    }
    for n in [4u16, 1, 5, 2, 3] {
        feed(&mut c, &pubrel(n));
        assert!(c.poll(0).unwrap().is_none());
        assert_eq!(written(&mut c, 0), pubcomp(n));
        takes_qos2(&mut c, n);
    }
    // The broker kept no session: none of its ids is held any more.
    c.connection_lost();
    c.connect(0).unwrap();
    assert!(written(&mut c, 0).starts_with(&[0x10]));
    feed(&mut c, &connack(false, ConnectReturnCode::Accepted));
    assert!(matches!(c.poll(0), Ok(Some(Event::Connected { .. }))));
    for n in 1..=5u16 {
        takes_qos2(&mut c, n);
    }
}

/// The broker's QoS 2 ids awaiting PUBREL live in the inbound table, not the log: a snapshot
/// carries them (and our message beside them), and the restored client, resuming, still
/// knows a repeat is no new message and answers the PUBREL.
#[test]
fn the_brokers_qos2_ids_survive_a_snapshot() {
    let mut a = Client::new(persisting(), vec![0; 256], vec![0; 1024], vec![0; 4096]).unwrap();
    connected(&mut a);
    let topic = TopicName::new("t").unwrap();
    let ours = a.publish(topic, b"m", QoS::AtLeastOnce, false).unwrap();
    feed(&mut a, &publish("in", b"two", q2(5), false));
    let (mut snapshot, mut delivered) = (Vec::new(), false);
    while let Some(e) = a.poll(0).unwrap() {
        match e {
            Event::SaveSession(s) => {
                snapshot = vec![0; s.snapshot_len(0)];
                s.write_snapshot(&[], &mut snapshot).unwrap();
            }
            Event::Message(_) => delivered = true,
            _ => {}
        }
    }
    assert!(delivered && written(&mut a, 0).ends_with(&pubrec(5)));
    let mut b = Client::new(persisting(), vec![0; 256], vec![0; 1024], vec![0; 4096]).unwrap();
    b.restore_session(&snapshot).unwrap();
    assert_eq!(b.unacknowledged().count(), 1, "our message {ours:?}");
    b.connect(0).unwrap();
    assert!(written(&mut b, 0).starts_with(&[0x10]));
    feed(&mut b, &connack(true, ConnectReturnCode::Accepted));
    assert!(matches!(b.poll(0), Ok(Some(Event::Connected { .. }))));
    feed(&mut b, &publish("in", b"two", q2(5), true));
    while let Some(e) = b.poll(0).unwrap() {
        assert!(!matches!(e, Event::Message(_)), "id 5 delivered twice");
    }
    assert!(written(&mut b, 0).ends_with(&pubrec(5)));
    feed(&mut b, &pubrel(5));
    while b.poll(0).unwrap().is_some() {}
    assert_eq!(written(&mut b, 0), pubcomp(5));
}

/// The snapshot identity covered the password (a CRC-32 of it could be brute-forced from the
/// flash): now it leaves the password out, so a snapshot restores across a password change.
#[test]
fn the_snapshot_identity_leaves_the_password_out() {
    let with = |password: &'static [u8]| persisting().credentials("alice", Some(password)).unwrap();
    let mut a = Client::new(with(b"s3cret"), vec![0; 256], vec![0; 1024], vec![0; 4096]).unwrap();
    connected(&mut a);
    let topic = TopicName::new("t").unwrap();
    a.publish(topic, b"m", QoS::AtLeastOnce, false).unwrap();
    let Ok(Some(Event::SaveSession(s))) = a.poll(0) else {
        panic!("no save");
    };
    let mut snapshot = vec![0; s.snapshot_len(0)];
    s.write_snapshot(&[], &mut snapshot).unwrap();
    let mut b = Client::new(with(b"other"), vec![0; 256], vec![0; 1024], vec![0; 4096]).unwrap();
    b.restore_session(&snapshot).unwrap();
    assert_eq!(b.unacknowledged().count(), 1);
    // Another user is another client.
    let other = persisting().credentials("bob", Some(b"s3cret")).unwrap();
    let mut c = Client::new(other, vec![0; 256], vec![0; 1024], vec![0; 4096]).unwrap();
    assert_eq!(
        c.restore_session(&snapshot).unwrap_err(),
        SnapshotError::OtherClient
    );
}

/// `TcpTransport` had no write timeout: a broker whose TCP window closed (it reads nothing)
/// blocked the program in `write` for good, keep-alive and all. The write times out and the
/// connection ends with `TimedOut`.
#[test]
fn a_broker_that_takes_no_bytes_ends_a_blocking_write() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let broker = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut connect = [0u8; 14];
        s.read_exact(&mut connect).unwrap();
        s.write_all(&connack(false, ConnectReturnCode::Accepted))
            .unwrap();
        std::thread::sleep(std::time::Duration::from_secs(20)); // reads nothing more
    });
    let io = umqtt::TcpTransport::connect(addr).unwrap();
    io.set_write_timeout(std::time::Duration::from_millis(500))
        .unwrap();
    let opts = ConnectOptions::new("c1").unwrap().keep_alive_secs(0);
    let client = Client::new(opts, vec![0; 256], vec![0; 65536], vec![0; 1024]).unwrap();
    let mut mqtt = umqtt::Blocking::new(client, io, umqtt::StdClock::new(), |_| {});
    mqtt.connect().unwrap();
    let started = std::time::Instant::now();
    let e = loop {
        assert!(started.elapsed().as_secs() < 15, "still writing after 15 s");
        if let Err(e) = mqtt.publish("t", vec![0u8; 60_000], QoS::AtMostOnce, false) {
            break e;
        }
    };
    assert!(
        matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut),
        "{e}"
    );
    assert_eq!(mqtt.client().state(), umqtt::client::State::Closed);
    drop(broker);
}

/// Review of the fix: a failed save dropped the resubscribe SUBSCRIBE the core had queued
/// itself; a broker that then resumed the session (the one the failed connection made, with
/// no subscriptions) would never have them back. The next connection sends it regardless.
#[test]
fn a_resubscribe_dropped_by_a_failed_save_is_sent_on_the_next_connection() {
    let subs: &'static [Subscription<'static>] = Box::leak(Box::new([Subscription {
        filter: umqtt::topic::TopicFilter::new("a/#").unwrap(),
        qos: QoS::AtLeastOnce,
    }]));
    let opts = persisting().resubscribe(subs);
    let mut c = Client::new(opts, vec![0; 256], vec![0; 1024], vec![0; 4096]).unwrap();
    c.connect(0).unwrap();
    assert!(written(&mut c, 0).starts_with(&[0x10]));
    feed(&mut c, &connack(false, ConnectReturnCode::Accepted));
    assert!(matches!(c.poll(0), Ok(Some(Event::Connected { .. }))));
    match c.poll(0) {
        Ok(Some(Event::SaveSession(s))) => s.failed(), // the SUBSCRIBE's save
        other => panic!("expected a save, got {other:?}"),
    }
    assert_eq!(
        c.poll(0).unwrap_err(),
        Error::Caller(CallerError::SessionNotSaved)
    );
    assert!(written(&mut c, 0).is_empty(), "the SUBSCRIBE went out");
    // The broker resumes "the session": the subscription is sent all the same.
    connected_with(&mut c, true);
    let mut out = vec![];
    for _ in 0..4 {
        while let Some(e) = c.poll(0).unwrap() {
            assert!(matches!(e, Event::SaveSession(_)), "{e:?}");
        }
        out.extend(written(&mut c, 0));
    }
    assert_eq!(out.first(), Some(&0x82), "no SUBSCRIBE: {out:02x?}");
}

/// Connects `c` again, the broker answering `session_present`; saves handed out succeed.
fn connected_with(c: &mut Client<Vec<u8>>, session_present: bool) {
    c.connect(0).unwrap();
    while !written(c, 0).starts_with(&[0x10]) {
        c.poll(0).unwrap();
    }
    feed(c, &connack(session_present, ConnectReturnCode::Accepted));
    while !matches!(c.poll(0).unwrap(), Some(Event::Connected { .. })) {}
}

/// Review of the fix: a PINGREQ that waited for room timed its answer from when it was due,
/// so a link that was only slow (tx full for a while, then draining) was declared dead before
/// the PINGREQ had even been written. The answer is timed from when it was queued (the link
/// moving meanwhile restarts the wait).
#[test]
fn a_pingreq_that_waited_for_a_slow_link_gets_its_full_answer_time() {
    let opts = ConnectOptions::new("c1").unwrap().keep_alive_secs(60);
    let mut c = Client::new(opts, vec![0; 256], vec![0; 64], vec![0; 1024]).unwrap();
    c.connect(0).unwrap();
    written(&mut c, 0);
    feed(&mut c, &connack(false, ConnectReturnCode::Accepted));
    assert!(matches!(c.poll(0), Ok(Some(Event::Connected { .. }))));
    let topic = TopicName::new("t").unwrap();
    c.publish(topic, &[1; 58], QoS::AtMostOnce, false).unwrap();
    for now in (1_000..=65_000).step_by(1_000) {
        assert!(c.poll(now).is_ok(), "at {now}");
    }
    // The link takes a little at 65 s (room for the PINGREQ, queued at 68 s) and the rest at
    // 70 s: the PINGREQ goes out then, its answer timed from when it was queued.
    c.transmitted(30, 65_000);
    assert!(c.poll(68_000).is_ok());
    let rest = c.poll_transmit().to_vec();
    assert!(rest.ends_with(&pingreq()), "{rest:02x?}");
    c.transmitted(rest.len(), 70_000);
    assert!(
        c.poll(77_000).is_ok(),
        "declared dead 7 s after its PINGREQ"
    );
    feed(&mut c, &pingresp());
    assert!(c.poll(77_500).is_ok());
    assert!(c.poll(85_000).is_ok());
}
