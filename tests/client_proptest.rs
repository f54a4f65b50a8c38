//! Random interleavings of operations, broker answers, reconnects and time keep the client's
//! invariants: packet ids unique and non-zero, in-flight never above the window, every
//! acknowledged message leaves the tables, nothing delivered twice at QoS 2.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use support::scripted::*;
use umqtt::packet::*;
use umqtt::topic::{TopicFilter, TopicName};
use umqtt::{Client, ConnectOptions, Error};

#[derive(Debug, Clone)]
enum Op {
    Publish(u8, u8),
    Subscribe,
    AckSome(usize),
    InboundQos2(u16, bool),
    InboundRelease(u16),
    Drop(bool),
    Tick(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 0u8..40).prop_map(|(q, n)| Op::Publish(q, n)),
        1 => Just(Op::Subscribe),
        4 => any::<usize>().prop_map(Op::AckSome),
        2 => (1u16..5, any::<bool>()).prop_map(|(p, d)| Op::InboundQos2(p, d)),
        1 => (1u16..5).prop_map(Op::InboundRelease),
        1 => any::<bool>().prop_map(Op::Drop),
        1 => (0u16..2000).prop_map(Op::Tick),
    ]
}

/// The broker's view of the session.
#[derive(Default)]
struct Model {
    pub1: BTreeSet<u16>,
    pub2: BTreeSet<u16>,
    rel: BTreeSet<u16>,
    /// PUBREC received, waiting for the client's PUBREL.
    rec_sent: BTreeSet<u16>,
    sub: BTreeSet<u16>,
    /// Inbound QoS 2 ids the broker sent and has not released, with deliveries seen.
    inbound: BTreeMap<u16, u32>,
    published_events: Vec<u16>,
}

impl Model {
    fn ours(&self) -> BTreeSet<u16> {
        self.pub1
            .iter()
            .chain(&self.pub2)
            .chain(&self.rel)
            .chain(&self.rec_sent)
            .chain(&self.sub)
            .copied()
            .collect()
    }

    /// Checks and records everything the client transmitted.
    fn sent(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let Ok(Status::Complete { packet, len }) = decode(rest) else {
                panic!("client sent garbage")
            };
            rest = &rest[len..];
            match packet {
                Packet::Publish(p) => match p.qos {
                    QosPid::AtMostOnce => {}
                    QosPid::AtLeastOnce(id) | QosPid::ExactlyOnce(id) => {
                        let id = id.get();
                        let set = if p.qos.qos() == QoS::AtLeastOnce {
                            &self.pub1
                        } else {
                            &self.pub2
                        };
                        if p.dup {
                            assert!(set.contains(&id), "DUP resend of unknown id {id}");
                        } else {
                            assert!(!self.ours().contains(&id), "id {id} reused while in flight");
                            if p.qos.qos() == QoS::AtLeastOnce {
                                self.pub1.insert(id)
                            } else {
                                self.pub2.insert(id)
                            };
                        }
                    }
                },
                Packet::Pubrel(id) => {
                    let id = id.get();
                    assert!(
                        self.rec_sent.remove(&id) || self.rel.contains(&id),
                        "PUBREL for {id} without PUBREC"
                    );
                    self.rel.insert(id);
                }
                Packet::Subscribe(s) => {
                    assert!(!self.ours().contains(&s.pid.get()), "subscribe id reused");
                    self.sub.insert(s.pid.get());
                }
                Packet::Puback(_)
                | Packet::Pubrec(_)
                | Packet::Pubcomp(_)
                | Packet::Pingreq
                | Packet::Connect(_) => {}
                other => panic!("client sent {other:?}"),
            }
        }
    }
}

fn drain(client: &mut Client<Vec<u8>>, model: &mut Model, now: u64) {
    let bytes = client.poll_transmit().to_vec();
    client.transmitted(bytes.len(), now);
    model.sent(&bytes);
}

/// Feeds broker bytes and collects the events.
fn feed(client: &mut Client<Vec<u8>>, bytes: &[u8], now: u64) -> Result<Vec<Ev>, Error> {
    let space = client.rx_space();
    space[..bytes.len()].copy_from_slice(bytes);
    client.received(bytes.len());
    let mut events = vec![];
    while let Some(e) = client.poll(now)? {
        events.push(Ev::from(e));
    }
    Ok(events)
}

fn connect(client: &mut Client<Vec<u8>>, model: &mut Model, sp: bool, now: u64) -> Vec<Ev> {
    client.connect(now).unwrap();
    drain(client, model, now);
    if !sp {
        *model = Model {
            published_events: std::mem::take(&mut model.published_events),
            ..Default::default()
        };
    } else {
        // Whatever waited for the client's PUBREL stays owed.
        model.sub.clear();
    }
    let ack = connack(sp, ConnectReturnCode::Accepted);
    let events = feed(client, &ack, now).unwrap();
    drain(client, model, now);
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_sessions_keep_the_invariants(ops in prop::collection::vec(op(), 1..120), window in 1u16..8) {
        let options = ConnectOptions::new("prop").unwrap().clean_session(false).keep_alive_secs(0).max_inflight(window);
        let mut client = Client::new(options, vec![0u8; 256], vec![0u8; 4096], vec![0u8; 600]).unwrap();
        let mut model = Model::default();
        let mut now = 0u64;
        connect(&mut client, &mut model, false, now);
        let mut subs_pending = 0usize;
        for op in ops {
            let mut events = vec![];
            match op {
                Op::Publish(q, n) => {
                    let qos = QoS::from_bits(q).unwrap();
                    match client.publish(TopicName::new("t").unwrap(), &vec![n; usize::from(n)], qos, false) {
                        Ok(_) | Err(nb::Error::WouldBlock) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                }
                Op::Subscribe => {
                    let s = [Subscription { filter: TopicFilter::new("a/#").unwrap(), qos: QoS::AtLeastOnce }];
                    if client.subscribe(&s).is_ok() { subs_pending += 1; }
                }
                Op::AckSome(k) => {
                    let choices: Vec<(u8, u16)> = model.pub1.iter().map(|&i| (4, i))
                        .chain(model.pub2.iter().map(|&i| (5, i)))
                        .chain(model.rel.iter().map(|&i| (7, i)))
                        .chain(model.sub.iter().map(|&i| (9, i)))
                        .collect();
                    if !choices.is_empty() {
                        let (t, i) = choices[k % choices.len()];
                        let bytes = match t {
                            4 => { model.pub1.remove(&i); puback(i) }
                            5 => { model.pub2.remove(&i); model.rec_sent.insert(i); pubrec(i) }
                            7 => { model.rel.remove(&i); pubcomp(i) }
                            _ => {
                                model.sub.remove(&i);
                                let codes = [SubackCode::Success(QoS::AtLeastOnce)];
                                suback(i, &codes)
                            }
                        };
                        events = feed(&mut client, &bytes, now).unwrap();
                        for e in &events {
                            if let Ev::Published(id, _) = e {
                                prop_assert!(t == 4 || t == 7);
                                prop_assert_eq!(*id, i);
                            }
                        }
                    }
                }
                Op::InboundQos2(p, dup) => {
                    let resend = model.inbound.contains_key(&p);
                    let bytes = publish("in", &[p as u8], QosPid::ExactlyOnce(pid(p)), dup && resend);
                    model.inbound.entry(p).or_insert(0);
                    events = feed(&mut client, &bytes, now).unwrap();
                }
                Op::InboundRelease(p) => {
                    model.inbound.remove(&p);
                    events = feed(&mut client, &pubrel(p), now).unwrap();
                }
                Op::Drop(sp) => {
                    client.connection_lost();
                    model.rec_sent.clear();
                    let resumed = connect(&mut client, &mut model, sp, now);
                    if !sp {
                        model.inbound.clear();
                    }
                    // Everything lost is reported, and only when the session was not resumed.
                    for e in &resumed[1..] {
                        prop_assert!(matches!(e, Ev::LostSubscribe(_)) || !sp, "{:?}", e);
                    }
                    let mut more = vec![];
                    while let Some(e) = client.poll(now).unwrap() { more.push(Ev::from(e)); }
                    events = more;
                    subs_pending = 0;
                }
                Op::Tick(ms) => now += u64::from(ms),
            }
            drain(&mut client, &mut model, now);
            for e in &events {
                match e {
                    Ev::Message { topic, payload, .. } if topic == "in" => {
                        let n = model.inbound.get_mut(&u16::from(payload[0])).expect("delivered after release");
                        *n += 1;
                        prop_assert!(*n <= 1, "QoS 2 message {} delivered twice", payload[0]);
                    }
                    Ev::Published(id, _) => model.published_events.push(*id),
                    _ => {}
                }
            }
            // In flight never above the window; acknowledged messages left the tables.
            let inflight = client.inflight();
            prop_assert!(inflight <= usize::from(window), "{} in flight, window {}", inflight, window);
            prop_assert_eq!(inflight, model.pub1.len() + model.pub2.len() + model.rel.len() + model.rec_sent.len());
            prop_assert!(model.ours().iter().all(|&i| i != 0));
        }
        let _ = subs_pending;
    }
}

/// MQTT-2.3.1-2: after 65,535 identifiers the counter wraps, skipping ids still in flight
/// (and never using 0).
#[test]
fn packet_ids_wrap_around_skipping_ids_in_flight() {
    let options = ConnectOptions::new("wrap").unwrap().keep_alive_secs(0);
    let mut client = Client::new(options, vec![0u8; 256], vec![0u8; 4096], vec![0u8; 600]).unwrap();
    let mut model = Model::default();
    connect(&mut client, &mut model, false, 0);
    let topic = TopicName::new("t").unwrap();
    let held = client
        .publish(topic, b"held", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    assert_eq!(held.get(), 1);
    drain(&mut client, &mut model, 0);
    let mut seen_wrap = false;
    for _ in 0..70_000 {
        let id = client
            .publish(topic, b"x", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        assert_ne!(id, held, "id in flight reused");
        seen_wrap |= id.get() == 2 && model.published_events.len() > 1;
        drain(&mut client, &mut model, 0);
        model.pub1.remove(&id.get());
        let events = feed(&mut client, &puback(id.get()), 0).unwrap();
        assert_eq!(events, [Ev::Published(id.get(), QoS::AtLeastOnce)]);
        model.published_events.push(id.get());
    }
    assert!(seen_wrap, "the identifier counter never wrapped");
}

/// MQTT-2.3.1-2 with the ids in flight spread over the whole range, through three wraps:
/// every id handed out is free (none of the held ones, whose free stretches the allocator
/// counts once and hands out without looking again), and an id freed after it was skipped
/// is used again on the next wrap.
#[test]
fn packet_ids_skip_scattered_ids_in_flight_through_three_wraps() {
    let options = ConnectOptions::new("wrap3").unwrap().keep_alive_secs(0);
    let mut client =
        Client::new(options, vec![0u8; 256], vec![0u8; 4096], vec![0u8; 4096]).unwrap();
    let mut model = Model::default();
    connect(&mut client, &mut model, false, 0);
    let topic = TopicName::new("t").unwrap();
    let targets = [1u16, 2, 3, 100, 101, 30_000, 65_534, 65_535];
    let mut held = std::collections::BTreeSet::new();
    let (mut reused_100, mut handed_out) = (false, 0u32);
    while handed_out < 3 * 65_535 {
        let id = client
            .publish(topic, b"x", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap()
            .get();
        handed_out += 1;
        assert!(!held.contains(&id), "id {id} in flight handed out again");
        drain(&mut client, &mut model, 0);
        model.pub1.remove(&id);
        if targets.contains(&id) && handed_out <= 65_535 {
            held.insert(id); // stays in flight
            continue;
        }
        reused_100 |= id == 100;
        let events = feed(&mut client, &puback(id), 0).unwrap();
        assert_eq!(events, [Ev::Published(id, QoS::AtLeastOnce)]);
        if handed_out == 2 * 65_535 {
            // Free 100 in the middle of the second wrap's end: the third wrap uses it.
            held.remove(&100);
            let events = feed(&mut client, &puback(100), 0).unwrap();
            assert_eq!(events, [Ev::Published(100, QoS::AtLeastOnce)]);
        }
    }
    assert_eq!(held.len(), targets.len() - 1);
    assert!(reused_100, "the freed id 100 was never handed out again");
    assert_eq!(client.inflight(), held.len());
}
