//! Target 4: the whole client — sans-IO core behind the non-blocking driver — fed an
//! arbitrary broker byte stream (well-formed answers, raw bytes, cut connections),
//! arbitrary operations and arbitrary clock advances. No panic, no hang (every call returns),
//! and the invariants hold:
//! - what the client writes is a stream of well-formed client packets, CONNECT first;
//! - in-flight messages never exceed the window;
//! - each publish completes (PUBACK/PUBCOMP) or is reported lost at most once, and only
//!   publishes the client made are completed;
//! - a QoS 2 message id is not delivered twice unless the client read a PUBREL for it in
//!   between or a connect did not resume the session.
#![no_main]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use umqtt::client::{Client, ConnectOptions, Event, Lost, State};
use umqtt::driver::nonblocking::NonBlocking;

/// What the model needs of an event, owned: the driver's handler records these for events
/// that arrive while an operation waits.
#[derive(Debug, Clone, Copy)]
enum Seen {
    Connected(bool),
    Done(u16),
    Qos2(u16),
    Other,
}

impl From<&Event<'_>> for Seen {
    fn from(e: &Event<'_>) -> Self {
        match e {
            Event::Connected { session_present } => Seen::Connected(*session_present),
            Event::Published { pid, .. }
            | Event::Lost(Lost::Message { pid, .. } | Lost::Released { pid }) => {
                Seen::Done(pid.get())
            }
            Event::Message(m) => match m.qos {
                QosPid::ExactlyOnce(id) => Seen::Qos2(id.get()),
                _ => Seen::Other,
            },
            _ => Seen::Other,
        }
    }
}
use umqtt::packet::*;
use umqtt::topic::{TopicFilter, TopicName};

const WINDOW: u16 = 4;
const TOPICS: [&str; 3] = ["a", "a/b", "sensors/kitchen/temperature"];
const FILTERS: [&str; 3] = ["a/#", "+/b", "#"];

#[derive(Arbitrary, Debug)]
enum Op {
    Connect,
    Publish { qos: u8, topic: u8, len: u8, retain: bool },
    Subscribe { qos: u8, filter: u8 },
    Unsubscribe { filter: u8 },
    Disconnect,
    Poll,
    Advance(u16),
    /// The network cuts the connection.
    Cut,
    Answer(Answer),
    Raw(Vec<u8>),
    Ready { read: bool, write: bool },
    WriteLimit(u8),
}

#[derive(Arbitrary, Debug)]
enum Answer {
    Connack { session_present: bool, code: u8 },
    /// Acknowledges the n-th id the client has outstanding, with the packet `kind` picks.
    AckOutstanding { kind: u8, index: u8 },
    Ack { kind: u8, pid: u16 },
    Suback { pid: u16, codes: Vec<u8> },
    Publish { qos: u8, pid: u16, dup: bool, retain: bool, topic: u8, len: u8 },
    Pingresp,
}

/// Both ends of one connection.
#[derive(Default)]
struct Wire {
    /// Broker → client bytes not yet read, and how many were read.
    inbox: VecDeque<u8>,
    consumed: Vec<u8>,
    /// Client → broker bytes.
    sent: Vec<u8>,
    read_ready: bool,
    write_ready: bool,
    write_limit: usize,
    cut: bool,
}

#[derive(Clone)]
struct Io(Rc<RefCell<Wire>>);

#[derive(Debug)]
struct IoError;

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection cut")
    }
}

impl std::error::Error for IoError {}

impl embedded_io::Error for IoError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::ConnectionReset
    }
}

impl embedded_io::ErrorType for Io {
    type Error = IoError;
}

impl embedded_io::Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        let mut w = self.0.borrow_mut();
        if w.cut {
            return Err(IoError);
        }
        let n = buf.len().min(w.inbox.len());
        for b in buf.iter_mut().take(n) {
            let byte = w.inbox.pop_front().unwrap();
            *b = byte;
            w.consumed.push(byte);
        }
        // The non-blocking driver reads only when read-ready; an empty inbox then is EOF.
        Ok(n)
    }
}

impl embedded_io::ReadReady for Io {
    fn read_ready(&mut self) -> Result<bool, IoError> {
        let w = self.0.borrow();
        Ok(w.cut || (w.read_ready && !w.inbox.is_empty()))
    }
}

impl embedded_io::Write for Io {
    fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        let mut w = self.0.borrow_mut();
        if w.cut {
            return Err(IoError);
        }
        let n = buf.len().min(w.write_limit.max(1));
        w.sent.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

impl embedded_io::WriteReady for Io {
    fn write_ready(&mut self) -> Result<bool, IoError> {
        let w = self.0.borrow();
        Ok(w.cut || w.write_ready)
    }
}

/// What the fuzz harness knows, to check the invariants.
#[derive(Default)]
struct Model {
    /// Publishes made and not yet completed or lost.
    outstanding: BTreeSet<u16>,
    /// Ids the client sent in SUBSCRIBE / UNSUBSCRIBE / PUBLISH / PUBREL on this connection.
    client_ids: Vec<u16>,
    /// QoS 2 deliveries per id in this session.
    delivered: BTreeMap<u16, u32>,
    /// PUBRELs the client has read in this session, per id.
    releases_read: BTreeMap<u16, u32>,
    /// How far `sent` / `consumed` of the current wire have been parsed.
    sent_at: usize,
    consumed_at: usize,
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n.max(1)).unwrap()
}

fn encode(p: &Packet<'_>) -> Vec<u8> {
    let mut v = vec![0u8; p.encoded_len()];
    match p.encode(&mut v) {
        Ok(n) => {
            v.truncate(n);
            v
        }
        Err(_) => Vec::new(),
    }
}

impl Model {
    /// Checks the client's new output: whole packets a client may send, CONNECT first.
    fn check_sent(&mut self, w: &Wire) {
        loop {
            let rest = &w.sent[self.sent_at..];
            match decode(rest) {
                Ok(Status::Complete { packet, len }) => {
                    if self.sent_at == 0 {
                        assert!(matches!(packet, Packet::Connect(_)), "first packet {packet:?}");
                    } else {
                        assert!(!matches!(packet, Packet::Connect(_)), "second CONNECT");
                    }
                    match packet {
                        Packet::Connect(_)
                        | Packet::Puback(_)
                        | Packet::Pubrec(_)
                        | Packet::Pubcomp(_)
                        | Packet::Pingreq
                        | Packet::Disconnect => {}
                        Packet::Publish(p) => {
                            if let Some(id) = p.qos.pid() {
                                self.client_ids.push(id.get());
                            }
                        }
                        Packet::Pubrel(id) => self.client_ids.push(id.get()),
                        Packet::Subscribe(s) => self.client_ids.push(s.pid.get()),
                        Packet::Unsubscribe(u) => self.client_ids.push(u.pid.get()),
                        other => panic!("a client must not send {other:?}"),
                    }
                    self.sent_at += len;
                }
                Ok(Status::Partial { .. }) => return,
                Err(e) => panic!("client wrote a malformed packet: {e:?}"),
            }
        }
    }

    /// Counts the PUBRELs in what the client has read so far.
    fn scan_reads(&mut self, w: &Wire) {
        while let Ok(Status::Complete { packet, len }) = decode(&w.consumed[self.consumed_at..]) {
            if let Packet::Pubrel(id) = packet {
                *self.releases_read.entry(id.get()).or_default() += 1;
            }
            self.consumed_at += len;
        }
    }

    /// A QoS 2 delivery of `id`: within a session, deliveries of an id may not outnumber the
    /// PUBRELs for it the client has read, plus one. (A necessary condition — reading is not
    /// processing — so a correct client is never blamed, and one that delivers twice with no
    /// PUBREL read is caught.)
    fn qos2_delivery(&mut self, w: &Wire, id: u16) {
        self.scan_reads(w);
        let releases = self.releases_read.get(&id).copied().unwrap_or(0);
        let deliveries = self.delivered.entry(id).or_default();
        *deliveries += 1;
        assert!(
            *deliveries <= releases + 1,
            "QoS 2 id {id} delivered {deliveries} times with {releases} PUBRELs read"
        );
    }

    fn event(&mut self, e: Seen, w: &Wire) {
        match e {
            Seen::Connected(session_present) => {
                // The options say clean_session = false: the session resumes when present.
                // PUBRELs read on this connection all come after its CONNACK (the client
                // refuses anything else first), so they count for the new session.
                if !session_present {
                    self.delivered.clear();
                    self.releases_read.clear();
                }
            }
            Seen::Done(id) => {
                assert!(self.outstanding.remove(&id), "completion or loss of {id} not outstanding");
            }
            Seen::Qos2(id) => self.qos2_delivery(w, id),
            Seen::Other => {}
        }
    }
}

fn answer(a: &Answer, model: &Model) -> Vec<u8> {
    let ack = |kind: u8, id: PacketId| match kind % 5 {
        0 => Packet::Puback(id),
        1 => Packet::Pubrec(id),
        2 => Packet::Pubrel(id),
        3 => Packet::Pubcomp(id),
        _ => Packet::Unsuback(id),
    };
    match a {
        Answer::Connack { session_present, code } => encode(&Packet::Connack(Connack {
            session_present: *session_present,
            code: ConnectReturnCode::from_u8(code % 6).unwrap_or(ConnectReturnCode::Accepted),
        })),
        Answer::AckOutstanding { kind, index } => {
            let ids = &model.client_ids;
            if ids.is_empty() {
                return Vec::new();
            }
            let id = ids[usize::from(*index) % ids.len()];
            let kind = *kind;
            if kind % 6 == 5 {
                let codes = [SubackCode::Success(QoS::AtLeastOnce)];
                return encode(&Packet::Suback(Suback {
                    pid: pid(id),
                    codes: SubackCodes::new(&codes).unwrap(),
                }));
            }
            encode(&ack(kind, pid(id)))
        }
        Answer::Ack { kind, pid: id } => encode(&ack(*kind, pid(*id))),
        Answer::Suback { pid: id, codes } => {
            let codes: Vec<SubackCode> = codes
                .iter()
                .take(8)
                .map(|c| match c % 4 {
                    0 => SubackCode::Success(QoS::AtMostOnce),
                    1 => SubackCode::Success(QoS::AtLeastOnce),
                    2 => SubackCode::Success(QoS::ExactlyOnce),
                    _ => SubackCode::Failure,
                })
                .collect();
            match SubackCodes::new(&codes) {
                Ok(codes) => encode(&Packet::Suback(Suback { pid: pid(*id), codes })),
                Err(_) => Vec::new(),
            }
        }
        Answer::Publish { qos, pid: id, dup, retain, topic, len } => {
            let qos = match qos % 3 {
                0 => QosPid::AtMostOnce,
                1 => QosPid::AtLeastOnce(pid(*id)),
                _ => QosPid::ExactlyOnce(pid(*id)),
            };
            let payload = vec![0xA5u8; usize::from(*len)];
            encode(&Packet::Publish(Publish {
                dup: *dup && qos != QosPid::AtMostOnce,
                qos,
                retain: *retain,
                topic: TopicName::new(TOPICS[usize::from(*topic) % TOPICS.len()]).unwrap(),
                payload: &payload,
            }))
        }
        Answer::Pingresp => encode(&Packet::Pingresp),
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut rx = [0u8; 96];
    let mut tx = [0u8; 96];
    let mut store = [0u8; 192];
    let subs = [Subscription {
        filter: TopicFilter::new("a/#").unwrap(),
        qos: QoS::ExactlyOnce,
    }];
    let options = ConnectOptions::new("fuzz")
        .unwrap()
        .keep_alive_secs(2)
        .response_timeout_ms(1_500)
        .max_inflight(WINDOW)
        .inbound_window(2) // the store's edges are what this explores
        .clean_session(false)
        .resubscribe(&subs);
    let client = Client::new(options, &mut rx[..], &mut tx[..], &mut store[..]).unwrap();
    let handled: Rc<RefCell<Vec<Seen>>> = Rc::default();
    let handler = {
        let handled = handled.clone();
        move |e: Event<'_>| handled.borrow_mut().push(Seen::from(&e))
    };
    let wire = Rc::new(RefCell::new(Wire {
        write_ready: true,
        read_ready: true,
        write_limit: 64,
        ..Wire::default()
    }));
    let now = Rc::new(Cell::new(0u64));
    let clock = {
        let now = now.clone();
        move || now.get()
    };
    let mut m = NonBlocking::new(client, Io(wire.clone()), clock, handler);
    let mut model = Model::default();
    let mut wire = wire;
    if let Ok(sp) = m.connect() {
        model.event(Seen::Connected(sp), &wire.borrow());
    }

    for op in ops.iter().take(256) {
        match op {
            Op::Connect => {
                if !matches!(m.client().state(), State::Connected | State::Connecting) {
                    let fresh = Rc::new(RefCell::new(Wire {
                        write_ready: true,
                        read_ready: true,
                        write_limit: 64,
                        ..Wire::default()
                    }));
                    model.scan_reads(&wire.borrow());
                    m.replace_transport(Io(fresh.clone()));
                    wire = fresh;
                    model.sent_at = 0;
                    model.consumed_at = 0;
                    model.client_ids.clear();
                    if let Ok(sp) = m.connect() {
                        model.event(Seen::Connected(sp), &wire.borrow());
                    }
                }
            }
            Op::Publish { qos, topic, len, retain } => {
                let qos = match qos % 3 {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => QoS::ExactlyOnce,
                };
                let payload = vec![0x5Au8; usize::from(*len) % 80];
                let topic = TOPICS[usize::from(*topic) % TOPICS.len()];
                let result = m.publish(topic, &payload, qos, *retain);
                // Events the handler got while the publish waited come first.
                for e in handled.borrow_mut().drain(..) {
                    model.event(e, &wire.borrow());
                }
                if let Ok(Some(id)) = result {
                    assert!(model.outstanding.insert(id.get()), "id {id:?} reused while outstanding");
                }
            }
            Op::Subscribe { qos, filter } => {
                let qos = match qos % 3 {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => QoS::ExactlyOnce,
                };
                let _ = m.subscribe(FILTERS[usize::from(*filter) % FILTERS.len()], qos);
            }
            Op::Unsubscribe { filter } => {
                let _ = m.unsubscribe(FILTERS[usize::from(*filter) % FILTERS.len()]);
            }
            Op::Disconnect => {
                let _ = m.disconnect();
            }
            Op::Poll => {}
            Op::Advance(ms) => now.set(now.get() + u64::from(*ms)),
            Op::Cut => wire.borrow_mut().cut = true,
            Op::Answer(a) => {
                let bytes = answer(a, &model);
                wire.borrow_mut().inbox.extend(bytes);
            }
            Op::Raw(bytes) => wire.borrow_mut().inbox.extend(bytes.iter().take(64)),
            Op::Ready { read, write } => {
                let mut w = wire.borrow_mut();
                w.read_ready = *read;
                w.write_ready = *write;
            }
            Op::WriteLimit(n) => wire.borrow_mut().write_limit = usize::from(*n).max(1),
        }
        // Drive: a bounded number of polls, each of which must return.
        for e in handled.borrow_mut().drain(..) {
            model.event(e, &wire.borrow());
        }
        for _ in 0..8 {
            match m.next_event() {
                Ok(e) => model.event(Seen::from(&e), &wire.borrow()),
                Err(nb::Error::WouldBlock) => break,
                Err(nb::Error::Other(_)) => break,
            }
        }
        let w = wire.borrow();
        model.check_sent(&w);
        assert!(m.client().inflight() <= usize::from(WINDOW), "window exceeded");
    }
});
