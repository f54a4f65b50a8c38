//! The broker matrix: the same scenarios against every broker people run — mosquitto (plain
//! and behind a TLS listener), rumqttd, aedes, amqtt and RabbitMQ's MQTT plugin, and
//! mosquitto, aedes and RabbitMQ over WebSocket too — each started
//! by the test on a free loopback port with one account (user "alice"). A scenario either
//! passes, passes with a note (what the broker chose where 3.1.1 lets it choose), or shows a
//! deviation from a named normative statement; the other scenarios run on regardless. The test fails on any other
//! failure, on a deviation not listed in `KNOWN`, and on a `KNOWN` entry that no longer
//! happens. It prints the table (tests/BROKERS.md) and writes it to
//! `target/broker-matrix.md`.
//!
//! A broker that is not installed is skipped with a message; CI installs them all and sets
//! `UMQTT_REQUIRE_BROKERS=1`.

mod support;

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use support::broker::*;
use support::others::Kind;
use umqtt::packet::ConnectReturnCode;
use umqtt::{BrokerError, ConnectOptions, Error, LinkError, QoS, SubackCode};

const USER: (&str, &str) = ("alice", "s3cret");
const SHORT: Duration = Duration::from_millis(500);

/// Deviations from 3.1.1 seen and accepted: (broker, scenario, statement). rumqttd 0.20 and
/// amqtt 0.12 deliver at the subscription's QoS, not the minimum with the message's; RabbitMQ
/// 3.10 takes a QoS 2 PUBLISH as QoS 1 (PUBACK), sends retained messages only to
/// subscriptions without wildcards, and matches `#` with `$` topics; over WebSocket
/// (`rabbitmq_web_mqtt` 3.10.8) it also publishes the will after a DISCONNECT — paho-mqtt 1.6
/// with `transport="websockets"` and a clean `disconnect()` gets the same.
const KNOWN: &[(Kind, &str, &str)] = &[
    (Kind::Rumqttd, "QoS 0/1/2, exact bytes", "MQTT-3.8.4-6"),
    (Kind::Amqtt, "QoS 0/1/2, exact bytes", "MQTT-3.8.4-6"),
    (Kind::RabbitMq, "QoS 0/1/2, exact bytes", "MQTT-4.3.3-2"),
    (Kind::RabbitMq, "retained set/clear", "MQTT-3.3.1-6"),
    (
        Kind::RabbitMq,
        "wildcards, empty levels, `$`",
        "MQTT-4.7.2-1",
    ),
    (Kind::RabbitMqWs, "QoS 0/1/2, exact bytes", "MQTT-4.3.3-2"),
    (Kind::RabbitMqWs, "will on drop", "MQTT-3.1.2-10"),
    (Kind::RabbitMqWs, "retained set/clear", "MQTT-3.3.1-6"),
    (
        Kind::RabbitMqWs,
        "wildcards, empty levels, `$`",
        "MQTT-4.7.2-1",
    ),
];

/// What a scenario found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Pass,
    /// Passed; the broker chose something 3.1.1 leaves open.
    Note(String),
    /// Broke this normative statement: what happened.
    Deviation(&'static str, String),
    /// Anything else: a bug here or in the broker's setup.
    Fail(String),
}

type Scenario = fn(&Broker) -> Outcome;

const SCENARIOS: &[(&str, Scenario)] = &[
    ("QoS 0/1/2, exact bytes", qos_exact_bytes),
    ("retained set/clear", retained),
    ("will on drop", will),
    ("persistent session, offline queue", persistent_session),
    ("wildcards, empty levels, `$`", wildcards),
    ("256 KiB payload", big_payload),
    ("password refusal", password_refusal),
];

fn opts(id: &str) -> ConnectOptions<'_> {
    ConnectOptions::new(id)
        .unwrap()
        .credentials(USER.0, Some(USER.1.as_bytes()))
        .unwrap()
}

fn conn(b: &Broker, id: &str) -> Conn {
    Conn::connect_to(b, opts(id), 4096).unwrap().0
}

fn payload(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Publishes and waits for the completion; a QoS 2 PUBLISH answered with PUBACK (the broker
/// took it as QoS 1) is a deviation.
fn publish(c: &mut Conn, topic: &str, body: &[u8], qos: QoS, retain: bool) -> Result<(), Outcome> {
    match c.publish(topic, body, qos, retain) {
        Ok(_) => Ok(()),
        Err(Error::Broker(BrokerError::UnknownPacketId(umqtt::packet::PacketType::Puback, _)))
            if qos == QoS::ExactlyOnce =>
        {
            Err(Outcome::Deviation(
                "MQTT-4.3.3-2",
                "a QoS 2 PUBLISH answered with PUBACK, not PUBREC".into(),
            ))
        }
        Err(e) => Err(Outcome::Fail(format!("publish to {topic}: {e}"))),
    }
}

fn qos_exact_bytes(b: &Broker) -> Outcome {
    let mut sub = conn(b, "mx-q-sub");
    let mut publ = conn(b, "mx-q-pub");
    let granted = match sub
        .subscribe("mx/q/+", QoS::ExactlyOnce)
        .unwrap()
        .as_slice()
    {
        [SubackCode::Success(q)] => *q,
        other => return Outcome::Fail(format!("SUBACK {other:?}")),
    };
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let (topic, body) = (format!("mx/q/{i}"), payload(i as u8, 100 + i));
        if let Err(outcome) = publish(&mut publ, &topic, &body, qos, false) {
            return outcome;
        }
        let m = sub.recv(WAIT).unwrap().expect("message");
        if (m.topic.as_str(), &m.payload) != (topic.as_str(), &body) {
            return Outcome::Fail(format!("got {m:?}"));
        }
        if m.qos != qos.min(granted) {
            return Outcome::Deviation(
                "MQTT-3.8.4-6",
                format!(
                    "a QoS {qos:?} message delivered at {:?} under a {granted:?} grant",
                    m.qos
                ),
            );
        }
    }
    // The broker publishes to us and we to it on one connection too.
    sub.publish("mx/q/self", b"loop", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(sub.recv(WAIT).unwrap().unwrap().payload, b"loop");
    sub.disconnect().unwrap();
    publ.disconnect().unwrap();
    if granted == QoS::ExactlyOnce {
        Outcome::Pass
    } else {
        Outcome::Note(format!("QoS 2 subscription granted {granted:?}"))
    }
}

fn retained(b: &Broker) -> Outcome {
    let mut publ = conn(b, "mx-r-pub");
    publ.publish("mx/r/t", b"kept", QoS::AtLeastOnce, true)
        .unwrap();
    let mut late = conn(b, "mx-r-late");
    late.subscribe("mx/r/#", QoS::AtLeastOnce).unwrap();
    let Some(m) = late.recv(Duration::from_secs(3)).unwrap() else {
        return Outcome::Deviation(
            "MQTT-3.3.1-6",
            "no retained message for a new wildcard subscription".into(),
        );
    };
    if (m.topic.as_str(), m.payload.as_slice()) != ("mx/r/t", b"kept") {
        return Outcome::Fail(format!("got {m:?}"));
    }
    if !m.retain {
        return Outcome::Deviation(
            "MQTT-3.3.1-8",
            "a retained message sent without RETAIN".into(),
        );
    }
    publ.publish("mx/r/live", b"now", QoS::AtLeastOnce, false)
        .unwrap();
    if late.recv(WAIT).unwrap().expect("live message").retain {
        return Outcome::Deviation(
            "MQTT-3.3.1-9",
            "a live message to an existing subscription flagged RETAIN".into(),
        );
    }
    // An empty retained payload clears it.
    publ.publish("mx/r/t", b"", QoS::AtLeastOnce, true).unwrap();
    let _ = late.recv(SHORT).unwrap();
    let mut later = conn(b, "mx-r-later");
    later.subscribe("mx/r/#", QoS::AtLeastOnce).unwrap();
    publ.publish("mx/r/marker", b"m", QoS::AtLeastOnce, false)
        .unwrap();
    let m = later.recv(WAIT).unwrap().expect("marker");
    if m.topic != "mx/r/marker" {
        return Outcome::Deviation(
            "MQTT-3.3.1-10",
            format!("an empty retained message did not clear it: {m:?}"),
        );
    }
    for c in [publ, late, later] {
        c.disconnect().unwrap();
    }
    Outcome::Pass
}

fn will(b: &Broker) -> Outcome {
    let mut watch = conn(b, "mx-w-watch");
    watch.subscribe("mx/w/#", QoS::AtLeastOnce).unwrap();
    let o = opts("mx-w-drop")
        .will("mx/w/drop", b"gone", QoS::AtLeastOnce, false)
        .unwrap();
    let (dropper, _) = Conn::connect_to(b, o, 1024).unwrap();
    drop(dropper); // the socket closes without DISCONNECT
    match watch.recv(WAIT).unwrap() {
        Some(m) if (m.topic.as_str(), m.payload.as_slice()) == ("mx/w/drop", b"gone") => {}
        other => {
            return Outcome::Deviation("MQTT-3.1.2-8", format!("no will on a drop: {other:?}"));
        }
    }
    let o = opts("mx-w-clean")
        .will("mx/w/clean", b"should not appear", QoS::AtLeastOnce, false)
        .unwrap();
    Conn::connect_to(b, o, 1024)
        .unwrap()
        .0
        .disconnect()
        .unwrap();
    let mut publ = conn(b, "mx-w-marker");
    publ.publish("mx/w/marker", b"m", QoS::AtLeastOnce, false)
        .unwrap();
    let m = watch.recv(WAIT).unwrap().expect("marker");
    if m.topic != "mx/w/marker" {
        return Outcome::Deviation("MQTT-3.1.2-10", format!("a will after DISCONNECT: {m:?}"));
    }
    watch.disconnect().unwrap();
    publ.disconnect().unwrap();
    Outcome::Pass
}

fn persistent_session(b: &Broker) -> Outcome {
    let o = || opts("mx-p-sub").clean_session(false);
    let (mut sub, _) = Conn::connect_to(b, o(), 4096).unwrap();
    sub.subscribe("mx/p/#", QoS::ExactlyOnce).unwrap();
    sub.disconnect().unwrap();
    let mut publ = conn(b, "mx-p-pub");
    let mut qos2 = true;
    for i in 0..20u8 {
        let qos = if i % 2 == 1 && qos2 {
            QoS::ExactlyOnce
        } else {
            QoS::AtLeastOnce
        };
        if let Err(outcome) = publish(&mut publ, &format!("mx/p/{i}"), &[i], qos, false) {
            // The first row shows it; go on at QoS 1 (the connection is closed: a new one).
            if !matches!(outcome, Outcome::Deviation(..)) {
                return outcome;
            }
            // The PUBACK accepted the message (at QoS 1): not published again.
            qos2 = false;
            publ = conn(b, "mx-p-pub");
        }
    }
    let (mut sub, present) = Conn::connect_to(b, o(), 4096).unwrap();
    if !present {
        return Outcome::Deviation(
            "MQTT-3.2.2-2",
            "session present 0 for a kept session".into(),
        );
    }
    let mut got = vec![];
    while let Some(m) = sub.recv(if got.len() < 20 { WAIT } else { SHORT }).unwrap() {
        got.push(m.payload[0]);
    }
    sub.disconnect().unwrap();
    publ.disconnect().unwrap();
    // Clean up: a clean session ends the stored one.
    Conn::connect_to(b, opts("mx-p-sub"), 1024)
        .unwrap()
        .0
        .disconnect()
        .unwrap();
    let want: Vec<u8> = (0..20).collect();
    if got == want {
        return match qos2 {
            true => Outcome::Pass,
            false => Outcome::Note("QoS 1 only (QoS 2: see the first row)".into()),
        };
    }
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    if unique != want {
        return Outcome::Deviation(
            "MQTT-3.1.2-5",
            format!(
                "queued while offline: {} of 20 delivered ({got:?})",
                unique.len()
            ),
        );
    }
    Outcome::Deviation(
        "MQTT-4.6.0-6",
        format!("delivered out of order or twice: {got:?}"),
    )
}

fn wildcards(b: &Broker) -> Outcome {
    let mut sub = conn(b, "mx-x-sub");
    for f in ["mx/x/w/+/temp", "mx/x/h/#", "mx/x/e/+/x", "mx/x/f/#"] {
        sub.subscribe(f, QoS::AtLeastOnce).unwrap();
    }
    let mut all = conn(b, "mx-x-all");
    all.subscribe("#", QoS::AtLeastOnce).unwrap();
    all.subscribe("+/mx-x", QoS::AtLeastOnce).unwrap();
    let mut publ = conn(b, "mx-x-pub");
    let topics = [
        "mx/x/w/kitchen/temp",
        "mx/x/w/kitchen/hum",
        "mx/x/w/a/b/temp",
        "mx/x/h",
        "mx/x/h/1/2/3",
        "mx/x/e//x",
        "mx/x/e/x",
        "mx/x/f/",
    ];
    for t in topics {
        publ.publish(t, t.as_bytes(), QoS::AtLeastOnce, false)
            .unwrap();
    }
    // A `$` topic, from a connection of its own: a broker may refuse it by closing the
    // connection (MQTT-3.3.5-2).
    let mut dollar = conn(b, "mx-x-dollar");
    let refused = dollar
        .publish("$mx/mx-x", b"$", QoS::AtLeastOnce, false)
        .and_then(|_| dollar.disconnect())
        .is_err();
    publ.publish("mx/x/h/end", b"end", QoS::AtLeastOnce, false)
        .unwrap();
    let until_end = |c: &mut Conn| {
        let mut got = vec![];
        while got.last().map(String::as_str) != Some("mx/x/h/end") {
            match c.recv(WAIT).unwrap() {
                Some(m) => got.push(m.topic),
                None => return Err(Outcome::Fail(format!("no end marker after {got:?}"))),
            }
        }
        Ok(got)
    };
    let got = match until_end(&mut sub) {
        Ok(got) => got,
        Err(outcome) => return outcome,
    };
    let want = [
        "mx/x/w/kitchen/temp",
        "mx/x/h",
        "mx/x/h/1/2/3",
        "mx/x/e//x",
        "mx/x/f/",
        "mx/x/h/end",
    ];
    if got != want {
        return Outcome::Deviation("MQTT-4.7.1-2", format!("matched {got:?}"));
    }
    let everything = match until_end(&mut all) {
        Ok(got) => got,
        Err(outcome) => return outcome,
    };
    let dollar: Vec<&String> = everything.iter().filter(|t| t.starts_with('$')).collect();
    if !dollar.is_empty() {
        return Outcome::Deviation("MQTT-4.7.2-1", format!("`#` or `+/…` matched {dollar:?}"));
    }
    if everything.iter().filter(|t| t.starts_with("mx/x/")).count() != topics.len() + 1 {
        return Outcome::Fail(format!("`#` got {everything:?}"));
    }
    for c in [sub, all, publ] {
        c.disconnect().unwrap();
    }
    match refused {
        false => Outcome::Pass,
        true => Outcome::Note("closes a connection that publishes to a `$` topic".into()),
    }
}

fn big_payload(b: &Broker) -> Outcome {
    let size = 256 * 1024;
    let (mut sub, _) = Conn::connect_to(b, opts("mx-b-sub"), size + 1024).unwrap();
    let (mut publ, _) = Conn::connect_to(b, opts("mx-b-pub"), size + 1024).unwrap();
    sub.subscribe("mx/b", QoS::AtLeastOnce).unwrap();
    let body = payload(7, size);
    publ.publish("mx/b", &body, QoS::AtLeastOnce, false)
        .unwrap();
    let m = sub.recv(WAIT).unwrap().expect("big message");
    if m.payload != body {
        return Outcome::Fail(format!("payload differs ({} bytes)", m.payload.len()));
    }
    sub.disconnect().unwrap();
    publ.disconnect().unwrap();
    Outcome::Pass
}

fn password_refusal(b: &Broker) -> Outcome {
    let mut notes = vec![];
    let wrong = ConnectOptions::new("mx-a").unwrap();
    let attempts = [
        (
            "a wrong password",
            wrong.credentials(USER.0, Some(b"wrong")).unwrap(),
        ),
        (
            "an unknown user",
            wrong
                .credentials("mallory", Some(USER.1.as_bytes()))
                .unwrap(),
        ),
        ("no credentials", wrong),
    ];
    for (what, o) in attempts {
        match Conn::connect_to(b, o, 1024) {
            Ok(_) => return Outcome::Fail(format!("{what} was accepted")),
            Err(Error::Broker(BrokerError::Refused(
                ConnectReturnCode::BadUsernameOrPassword | ConnectReturnCode::NotAuthorized,
            ))) => {}
            Err(Error::Broker(BrokerError::Refused(code))) => {
                notes.push(format!("{what}: refused with {code:?}"));
            }
            Err(Error::Link(LinkError::Closed) | Error::Io(_)) => {
                // 3.1.4: the server SHOULD answer with a non-zero CONNACK; closing is allowed.
                notes.push(format!("{what}: closed without CONNACK"));
            }
            Err(e) => return Outcome::Fail(format!("{what}: {e}")),
        }
    }
    if notes.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Note(notes.join("; "))
    }
}

/// Runs `scenario`, a panic counting as a failure.
fn attempt(broker: &Broker, scenario: Scenario) -> Outcome {
    let outcome = catch_unwind(AssertUnwindSafe(|| scenario(broker)));
    outcome.unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Outcome::Fail(format!("panicked: {text}"))
    })
}

/// Runs every scenario on `kind` (started here), a connection reset by the broker given a
/// second try.
fn run(kind: Kind) -> Option<Vec<Outcome>> {
    let broker = Broker::start(kind, USER)?;
    let outcomes = SCENARIOS
        .iter()
        .map(|(name, scenario)| {
            let started = Instant::now();
            let mut outcome = attempt(&broker, *scenario);
            if matches!(&outcome, Outcome::Fail(why) if why.contains("ConnectionReset")) {
                // Once in CI (nine brokers on two cores) rumqttd reset a connection it had
                // just accepted; a reset that happens again is a failure.
                eprintln!("{} / {name}: {outcome:?}; running it again", kind.name());
                outcome = attempt(&broker, *scenario);
            }
            eprintln!("{}: {:?} in {:?}", kind.name(), outcome, started.elapsed());
            outcome
        })
        .collect();
    Some(outcomes)
}

#[test]
fn every_broker_runs_every_scenario() {
    // The brokers start and run side by side (RabbitMQ takes ~15 s to start).
    let runs: Vec<(Kind, Option<Vec<Outcome>>)> = std::thread::scope(|s| {
        let handles: Vec<_> = Kind::ALL
            .into_iter()
            .map(|kind| (kind, s.spawn(move || run(kind))))
            .collect();
        handles
            .into_iter()
            .map(|(kind, h)| (kind, h.join().unwrap_or(None)))
            .collect()
    });

    let mut table = String::from("| scenario |");
    let ran: Vec<_> = runs
        .iter()
        .filter_map(|(k, o)| o.as_ref().map(|o| (*k, o)))
        .collect();
    for (kind, _) in &ran {
        write!(table, " {} |", kind.name()).unwrap();
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(ran.len()));
    table.push('\n');
    let mut problems = vec![];
    let mut notes = String::new();
    for (i, (name, _)) in SCENARIOS.iter().enumerate() {
        write!(table, "| {name} |").unwrap();
        for (kind, outcomes) in &ran {
            let cell = match &outcomes[i] {
                Outcome::Pass => "✔".to_string(),
                Outcome::Note(n) => {
                    writeln!(notes, "- {} / {name}: {n}", kind.name()).unwrap();
                    "✔ (note)".to_string()
                }
                Outcome::Deviation(statement, what) => {
                    writeln!(notes, "- {} / {name}: {statement}: {what}", kind.name()).unwrap();
                    if !KNOWN.contains(&(*kind, name, statement)) {
                        problems.push(format!("{} / {name}: {statement}: {what}", kind.name()));
                    }
                    format!("✘ {statement}")
                }
                Outcome::Fail(why) => {
                    problems.push(format!("{} / {name}: {why}", kind.name()));
                    "FAIL".to_string()
                }
            };
            write!(table, " {cell} |").unwrap();
        }
        table.push('\n');
    }
    for (kind, scenario, statement) in KNOWN {
        let seen = ran.iter().any(|(k, outcomes)| {
            k == kind
                && SCENARIOS.iter().zip(outcomes.iter()).any(|((name, _), o)| {
                    name == scenario && matches!(o, Outcome::Deviation(s, _) if s == statement)
                })
        });
        let ran_kind = ran.iter().any(|(k, _)| k == kind);
        if ran_kind && !seen {
            problems.push(format!(
                "{} / {scenario}: the known deviation {statement} no longer happens: update KNOWN",
                kind.name()
            ));
        }
    }
    let report = format!("{table}\n{notes}");
    println!("{report}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/broker-matrix.md");
    let _ = std::fs::write(out, &report);
    assert!(
        problems.is_empty(),
        "broker matrix:\n{}",
        problems.join("\n")
    );
}
