//! Scenarios against a real broker: mosquitto (required in CI), or the in-process broker
//! where it supports the scenario when mosquitto is not installed.

mod live;

use std::time::Duration;

use live::*;
use umqtt::packet::{ConnectReturnCode, QoS, SubackCode};
use umqtt::{BrokerError, ConnectOptions, Error, LinkError};

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
