//! The core through its own API only: bytes in, bytes out, `now` a plain number.

use umqtt::client::Progress;
use umqtt::packet::{QoS, QosPid, SubackCode, Subscription};
use umqtt::topic::{TopicFilter, TopicName};
use umqtt::{BrokerError, CallerError, Client, ConnectOptions, Error, LinkError, State};

use crate::wire::*;

/// CONNECT of client "c", keep-alive `secs`, clean session as given: the bytes of
/// section 3.1, written out.
fn connect_bytes(secs: u8, clean: bool) -> Vec<u8> {
    let flags = if clean { 0x02 } else { 0x00 };
    let mut b = vec![0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, flags, 0, secs];
    b.extend_from_slice(&[0, 1, b'c']);
    b
}

fn options() -> ConnectOptions<'static> {
    ConnectOptions::new("c")
        .unwrap()
        .keep_alive_secs(4)
        .response_timeout_ms(500)
}

fn client_with(options: ConnectOptions<'_>, rx: usize, tx: usize, store: usize) -> Client<Vec<u8>> {
    Client::new(options, vec![0; rx], vec![0; tx], vec![0; store]).unwrap()
}

/// A client connected at time 0 (CONNACK at 10).
fn connected(options: ConnectOptions<'_>, rx: usize, tx: usize, store: usize) -> Client<Vec<u8>> {
    let mut c = client_with(options, rx, tx, store);
    c.connect(0).unwrap();
    sent(&mut c, 0);
    assert_eq!(
        feed(&mut c, &connack(false), 10).unwrap(),
        [Ev::Connected(false)]
    );
    c
}

fn topic(t: &str) -> TopicName<'_> {
    TopicName::new(t).unwrap()
}

#[test]
fn connect_subscribe_and_a_message_acknowledged_before_it_is_handed_out() {
    let mut c = client_with(options(), 256, 256, 1024);
    assert_eq!(c.state(), State::Closed);
    c.connect(0).unwrap();
    assert_eq!(c.state(), State::Connecting);
    assert_eq!(sent(&mut c, 0), connect_bytes(4, true));
    assert_eq!(
        feed(&mut c, &connack(false), 5).unwrap(),
        [Ev::Connected(false)]
    );
    assert_eq!(c.state(), State::Connected);

    let subscription = Subscription {
        filter: TopicFilter::new("s/+").unwrap(),
        qos: QoS::AtLeastOnce,
    };
    assert_eq!(c.subscribe(&[subscription]).unwrap(), pid(1));
    // SUBSCRIBE (0x82), id 1, filter "s/+", QoS 1.
    assert_eq!(sent(&mut c, 6), [0x82, 8, 0, 1, 0, 3, b's', b'/', b'+', 1]);
    let granted = [SubackCode::Success(QoS::AtLeastOnce)];
    assert_eq!(
        feed(&mut c, &suback(1, &granted), 7).unwrap(),
        [Ev::Subscribed(1, granted.to_vec())]
    );

    // A QoS 1 message: its PUBACK is queued before the event is handed out.
    let message = publish("s/a", b"hi", QosPid::AtLeastOnce(pid(7)), false);
    c.rx_space()[..message.len()].copy_from_slice(&message);
    c.received(message.len());
    assert_eq!(c.advance(8).unwrap(), Progress::Event);
    assert_eq!(c.poll_transmit(), [0x40, 2, 0, 7]);
    assert_eq!(
        c.event().map(Ev::from),
        Some(Ev::Message {
            topic: "s/a".into(),
            payload: b"hi".to_vec(),
            qos: QoS::AtLeastOnce,
            dup: false,
        })
    );
    assert_eq!(sent(&mut c, 9), [0x40, 2, 0, 7]);
    assert_eq!(tick(&mut c, 10).unwrap(), []);
}

#[test]
fn keep_alive_on_a_plain_clock_and_a_missing_pingresp_closes() {
    let mut c = connected(options(), 256, 256, 1024);
    // Keep-alive 4 s: PINGREQ a quarter (at most 1 s) before the interval ends, counted from
    // the last byte sent (the CONNECT, at 0).
    assert_eq!(c.next_deadline(), Some(3_000));
    assert_eq!(tick(&mut c, 2_999).unwrap(), []);
    assert_eq!(sent(&mut c, 2_999), []);
    assert_eq!(tick(&mut c, 3_000).unwrap(), []);
    assert_eq!(sent(&mut c, 3_000), [0xC0, 0]);
    // The PINGRESP is due within the response timeout.
    assert_eq!(c.next_deadline(), Some(3_500));
    assert_eq!(feed(&mut c, &[0xD0, 0], 3_200).unwrap(), []);
    assert_eq!(c.next_deadline(), Some(6_000));
    assert_eq!(tick(&mut c, 6_000).unwrap(), []);
    assert_eq!(sent(&mut c, 6_000), [0xC0, 0]);
    assert_eq!(tick(&mut c, 6_499).unwrap(), []);
    // One past the response timeout: the link is dead.
    assert!(matches!(
        tick(&mut c, 6_500),
        Err(Error::Link(LinkError::PingTimeout))
    ));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn no_connack_within_the_response_timeout_closes() {
    let mut c = client_with(options(), 256, 256, 1024);
    c.connect(0).unwrap();
    sent(&mut c, 0);
    assert_eq!(c.next_deadline(), Some(500));
    assert_eq!(tick(&mut c, 499).unwrap(), []);
    assert!(matches!(
        tick(&mut c, 500),
        Err(Error::Link(LinkError::ConnackTimeout))
    ));
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn a_message_filling_rx_is_delivered_and_one_byte_more_is_refused() {
    // rx 64: a PUBLISH of 2 + 3 ("t") + 59 bytes fills it exactly.
    let mut c = connected(options(), 64, 256, 1024);
    let fits = publish("t", &[7; 59], QosPid::AtMostOnce, false);
    assert_eq!(fits.len(), 64);
    let events = feed(&mut c, &fits, 20).unwrap();
    assert!(matches!(&events[..], [Ev::Message { payload, .. }] if payload.len() == 59));
    // One byte past rx: refused at its header (without streaming, or with it not asked for)
    // and the connection closed, never half delivered.
    // QoS 1: 2 + 3 + 2 (packet id) + 58.
    let over = publish("t", &[7; 58], QosPid::AtLeastOnce(pid(1)), false);
    assert!(matches!(
        feed(&mut c, &over, 30),
        Err(Error::Broker(BrokerError::PacketTooLarge {
            size: 65,
            capacity: 64
        }))
    ));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(sent(&mut c, 31), [], "nothing acknowledged");
}

#[test]
fn a_publish_past_tx_is_the_callers_error_and_does_nothing() {
    let mut c = connected(options(), 256, 64, 1024);
    // 2 + 3 + 59 = 64 bytes: fits tx exactly.
    assert_eq!(
        c.publish(topic("t"), &[1; 59], QoS::AtMostOnce, false),
        Ok(None)
    );
    assert_eq!(sent(&mut c, 20).len(), 64);
    // QoS 1: 2 + 3 + 2 (packet id) + 58 = 65.
    let over = c.publish(topic("t"), &[1; 58], QoS::AtLeastOnce, false);
    assert!(matches!(
        over,
        Err(nb::Error::Other(Error::Caller(
            CallerError::PacketTooLarge {
                size: 65,
                capacity: 64
            }
        )))
    ));
    assert_eq!(c.state(), State::Connected);
    assert_eq!(c.inflight(), 0);
    assert_eq!(sent(&mut c, 21), []);
}

#[test]
fn the_in_flight_window_past_its_limit_waits_for_an_acknowledgement() {
    let mut c = connected(options().max_inflight(2), 256, 256, 1024);
    let publish_one =
        |c: &mut Client<Vec<u8>>| c.publish(topic("t"), b"m", QoS::AtLeastOnce, false);
    assert_eq!(publish_one(&mut c), Ok(Some(pid(1))));
    assert_eq!(publish_one(&mut c), Ok(Some(pid(2))));
    assert_eq!(publish_one(&mut c), Err(nb::Error::WouldBlock));
    assert_eq!(c.inflight(), 2);
    sent(&mut c, 20);
    assert_eq!(
        feed(&mut c, &[0x40, 2, 0, 1], 30).unwrap(),
        [Ev::Published(1, QoS::AtLeastOnce)]
    );
    assert_eq!(publish_one(&mut c), Ok(Some(pid(3))));
    assert_eq!(
        sent(&mut c, 31),
        publish("t", b"m", QosPid::AtLeastOnce(pid(3)), false)
    );
}

#[test]
fn the_session_store_past_its_size_waits_and_a_message_larger_than_it_is_refused() {
    let mut c = connected(options(), 1024, 1024, 512);
    let mut published = 0;
    while let Ok(Some(_)) = c.publish(topic("t"), &[0; 40], QoS::AtLeastOnce, false) {
        published += 1;
        assert!(published < 20, "the store never filled");
    }
    assert!(published >= 1);
    assert_eq!(
        c.publish(topic("t"), &[0; 40], QoS::AtLeastOnce, false),
        Err(nb::Error::WouldBlock)
    );
    sent(&mut c, 20);
    assert_eq!(
        feed(&mut c, &[0x40, 2, 0, 1], 30).unwrap(),
        [Ev::Published(1, QoS::AtLeastOnce)]
    );
    assert!(matches!(
        c.publish(topic("t"), &[0; 40], QoS::AtLeastOnce, false),
        Ok(Some(_))
    ));
    // A message the store could never hold, even empty: the caller's error, not a wait.
    assert!(matches!(
        c.publish(topic("t"), &[0; 600], QoS::AtLeastOnce, false),
        Err(nb::Error::Other(Error::Caller(
            CallerError::MessageTooLarge { .. }
        )))
    ));
    assert_eq!(c.state(), State::Connected);
}

#[test]
fn after_a_cut_a_resumed_session_resends_with_dup_and_a_new_one_reports_the_loss() {
    let persistent = || options().clean_session(false);
    let mut c = connected(persistent(), 256, 256, 1024);
    assert_eq!(
        c.publish(topic("t"), b"m", QoS::AtLeastOnce, false),
        Ok(Some(pid(1)))
    );
    assert_eq!(
        sent(&mut c, 20),
        publish("t", b"m", QosPid::AtLeastOnce(pid(1)), false)
    );
    c.connection_lost();
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.inflight(), 1);

    c.connect(100).unwrap();
    assert_eq!(sent(&mut c, 100), connect_bytes(4, false));
    assert_eq!(
        feed(&mut c, &connack(true), 110).unwrap(),
        [Ev::Connected(true)]
    );
    assert_eq!(
        sent(&mut c, 111),
        publish("t", b"m", QosPid::AtLeastOnce(pid(1)), true)
    );

    // The broker loses the session: the message is reported, not resent.
    c.connection_lost();
    c.connect(200).unwrap();
    sent(&mut c, 200);
    assert_eq!(
        feed(&mut c, &connack(false), 210).unwrap(),
        [Ev::Connected(false), Ev::Lost]
    );
    assert_eq!(sent(&mut c, 211), []);
    assert_eq!(c.inflight(), 0);
}

#[test]
fn an_inbound_qos_2_message_is_delivered_once() {
    let mut c = connected(options(), 256, 256, 1024);
    let first = publish("q", b"2", QosPid::ExactlyOnce(pid(5)), false);
    let events = feed(&mut c, &first, 20).unwrap();
    assert!(matches!(
        &events[..],
        [Ev::Message {
            qos: QoS::ExactlyOnce,
            dup: false,
            ..
        }]
    ));
    assert_eq!(sent(&mut c, 21), [0x50, 2, 0, 5]);
    // The broker sends it again (no PUBREC seen): acknowledged again, not delivered again.
    let again = publish("q", b"2", QosPid::ExactlyOnce(pid(5)), true);
    assert_eq!(feed(&mut c, &again, 30).unwrap(), []);
    assert_eq!(sent(&mut c, 31), [0x50, 2, 0, 5]);
    // PUBREL releases the id: PUBCOMP, and the id is free for a new message.
    assert_eq!(feed(&mut c, &[0x62, 2, 0, 5], 40).unwrap(), []);
    assert_eq!(sent(&mut c, 41), [0x70, 2, 0, 5]);
    let next = publish("q", b"3", QosPid::ExactlyOnce(pid(5)), false);
    assert_eq!(feed(&mut c, &next, 50).unwrap().len(), 1);
}

#[test]
fn an_acknowledgement_for_an_unknown_id_closes_the_connection() {
    let mut c = connected(options(), 256, 256, 1024);
    assert!(matches!(
        feed(&mut c, &[0x40, 2, 0, 9], 20),
        Err(Error::Broker(BrokerError::UnknownPacketId(_, id))) if id == pid(9)
    ));
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn a_graceful_disconnect_sends_disconnect_last() {
    let mut c = connected(options(), 256, 256, 1024);
    c.disconnect(20).unwrap();
    assert_eq!(c.state(), State::Disconnecting);
    assert_eq!(tick(&mut c, 21).unwrap(), []);
    assert_eq!(sent(&mut c, 21), [0xE0, 0]);
    assert_eq!(tick(&mut c, 22).unwrap(), [Ev::Disconnected]);
    assert_eq!(c.state(), State::Closed);
    assert!(matches!(
        c.publish(topic("t"), b"m", QoS::AtMostOnce, false),
        Err(nb::Error::Other(Error::Link(LinkError::NotConnected)))
    ));
    // Nothing more goes out on this connection.
    assert_eq!(sent(&mut c, 23), []);
}
