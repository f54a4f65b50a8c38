//! A scripted broker: an in-memory transport that checks the exact bytes the client sends
//! and answers as the test says, usable by all three drivers, with 1-byte reads and writes,
//! random WouldBlock, and a fake clock.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::Poll;

use umqtt::client::{Client, Event, Lost};
use umqtt::driver::asynch::Async;
use umqtt::driver::blocking::Blocking;
use umqtt::driver::nonblocking::NonBlocking;
use umqtt::packet::{
    Connack, Connect, ConnectReturnCode, MqttStr, Packet, PacketId, Protocol, Publish, QoS, QosPid,
    Suback, SubackCode, SubackCodes, Subscribe, SubscribeFilters, Subscription, Unsubscribe,
    UnsubscribeFilters,
};
use umqtt::topic::{TopicFilter, TopicName};
use umqtt::{Backoff, ConnectOptions};

pub use super::codec::enc;

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

/// The CONNECT of client `id` (no will, no login).
pub fn connect_bytes(clean: bool, id: &str, keep_alive: u16) -> Vec<u8> {
    enc(&Packet::Connect(Connect {
        protocol: Protocol::V311,
        keep_alive,
        clean_session: clean,
        client_id: MqttStr::new(id).unwrap(),
        will: None,
        login: None,
    }))
}

/// A CONNACK.
pub fn connack(sp: bool, code: ConnectReturnCode) -> Vec<u8> {
    enc(&Packet::Connack(Connack {
        session_present: sp,
        code,
    }))
}

/// A PUBLISH to `topic` (not retained).
pub fn publish(topic: &str, payload: &[u8], qos: QosPid, dup: bool) -> Vec<u8> {
    enc(&Packet::Publish(Publish {
        dup,
        qos,
        retain: false,
        topic: TopicName::new(topic).unwrap(),
        payload,
    }))
}

/// PUBACK for packet id `n`.
pub fn puback(n: u16) -> Vec<u8> {
    enc(&Packet::Puback(pid(n)))
}
/// PUBREC for packet id `n`.
pub fn pubrec(n: u16) -> Vec<u8> {
    enc(&Packet::Pubrec(pid(n)))
}
/// PUBREL for packet id `n`.
pub fn pubrel(n: u16) -> Vec<u8> {
    enc(&Packet::Pubrel(pid(n)))
}
/// PUBCOMP for packet id `n`.
pub fn pubcomp(n: u16) -> Vec<u8> {
    enc(&Packet::Pubcomp(pid(n)))
}
/// UNSUBACK for packet id `n`.
pub fn unsuback(n: u16) -> Vec<u8> {
    enc(&Packet::Unsuback(pid(n)))
}
/// PINGREQ.
pub fn pingreq() -> Vec<u8> {
    enc(&Packet::Pingreq)
}
/// PINGRESP.
pub fn pingresp() -> Vec<u8> {
    enc(&Packet::Pingresp)
}
/// DISCONNECT.
pub fn disconnect() -> Vec<u8> {
    enc(&Packet::Disconnect)
}
/// SUBSCRIBE `n` of these filters.
pub fn subscribe(n: u16, subscriptions: &[Subscription<'_>]) -> Vec<u8> {
    enc(&Packet::Subscribe(Subscribe {
        pid: pid(n),
        filters: SubscribeFilters::new(subscriptions).unwrap(),
    }))
}
/// SUBACK `n` with one code per filter.
pub fn suback(n: u16, codes: &[SubackCode]) -> Vec<u8> {
    enc(&Packet::Suback(Suback {
        pid: pid(n),
        codes: SubackCodes::new(codes).unwrap(),
    }))
}
/// UNSUBSCRIBE `n` of these filters.
pub fn unsubscribe(n: u16, filters: &[TopicFilter<'_>]) -> Vec<u8> {
    enc(&Packet::Unsubscribe(Unsubscribe {
        pid: pid(n),
        filters: UnsubscribeFilters::new(filters).unwrap(),
    }))
}

/// QoS 1 with packet id `n`.
pub fn q1(n: u16) -> QosPid {
    QosPid::AtLeastOnce(pid(n))
}
/// QoS 2 with packet id `n`.
pub fn q2(n: u16) -> QosPid {
    QosPid::ExactlyOnce(pid(n))
}

/// One step of the broker's script.
#[derive(Debug, Clone)]
pub enum Step {
    /// The client must send exactly these bytes next.
    Expect(Vec<u8>),
    /// The broker sends these bytes.
    Send(Vec<u8>),
    /// The broker closes the connection.
    Close,
}

#[derive(Default)]
pub struct Broker {
    pub steps: VecDeque<Step>,
    inbox: Vec<u8>,
    outbox: VecDeque<u8>,
    closed: bool,
    /// Clock time at which each Expect step was satisfied.
    pub matched_at: Vec<u64>,
    /// The bytes the client wrote, per write call.
    pub writes: Vec<usize>,
}

impl Broker {
    fn pump(&mut self, now: u64) {
        loop {
            match self.steps.front() {
                Some(Step::Expect(b)) => {
                    let n = b.len().min(self.inbox.len());
                    assert_eq!(&self.inbox[..n], &b[..n], "client sent unexpected bytes");
                    if self.inbox.len() < b.len() {
                        return;
                    }
                    self.inbox.drain(..b.len());
                    self.matched_at.push(now);
                }
                Some(Step::Send(b)) => self.outbox.extend(b.iter().copied()),
                Some(Step::Close) => self.closed = true,
                None => {
                    assert!(
                        self.inbox.is_empty(),
                        "client sent unscripted bytes: {:02x?}",
                        self.inbox
                    );
                    return;
                }
            }
            self.steps.pop_front();
        }
    }
}

/// The scripted connection plus fake time.
#[derive(Clone)]
pub struct Net {
    pub broker: Rc<RefCell<Broker>>,
    pub clock: Rc<Cell<u64>>,
    /// The next this many session saves fail: the handler calls `Session::failed` (a flash
    /// that refuses the write).
    pub fail_saves: Rc<Cell<u32>>,
}

impl Net {
    pub fn new(steps: Vec<Step>) -> Self {
        Net {
            broker: Rc::new(RefCell::new(Broker {
                steps: steps.into(),
                ..Default::default()
            })),
            clock: Rc::new(Cell::new(1_000)),
            fail_saves: Rc::default(),
        }
    }

    /// A fresh connection to the same broker script (after a Close), with more steps.
    pub fn reconnect(&self, steps: Vec<Step>) {
        let mut b = self.broker.borrow_mut();
        assert!(
            b.steps.is_empty(),
            "previous script not finished: {:?}",
            b.steps
        );
        b.steps = steps.into();
        b.inbox.clear();
        b.outbox.clear();
        b.closed = false;
    }

    pub fn finished(&self) -> bool {
        let b = self.broker.borrow();
        b.steps.is_empty()
    }

    pub fn io(&self, cfg: IoCfg) -> Io {
        Io {
            net: self.clone(),
            cfg,
            rng: 0x9E37_79B9_7F4A_7C15 ^ cfg.seed,
            idle: 0,
        }
    }

    pub fn now(&self) -> u64 {
        self.clock.get()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct IoCfg {
    pub read_chunk: usize,
    pub write_chunk: usize,
    /// Percent of ReadReady / WriteReady answers that say "not ready".
    pub block_pct: u64,
    pub seed: u64,
    /// Fake milliseconds that pass each time the client finds nothing to read.
    pub tick_ms: u64,
}

impl IoCfg {
    pub const WHOLE: IoCfg = IoCfg {
        read_chunk: 1 << 20,
        write_chunk: 1 << 20,
        block_pct: 0,
        seed: 1,
        tick_ms: 100,
    };
    pub const BYTEWISE: IoCfg = IoCfg {
        read_chunk: 1,
        write_chunk: 1,
        block_pct: 0,
        seed: 2,
        tick_ms: 100,
    };
    pub const CHOPPY: IoCfg = IoCfg {
        read_chunk: 3,
        write_chunk: 2,
        block_pct: 50,
        seed: 3,
        tick_ms: 100,
    };
    pub const STALLING: IoCfg = IoCfg {
        read_chunk: 1,
        write_chunk: 1,
        block_pct: 90,
        seed: 4,
        tick_ms: 100,
    };
    pub const ALL: [IoCfg; 4] = [
        IoCfg::WHOLE,
        IoCfg::BYTEWISE,
        IoCfg::CHOPPY,
        IoCfg::STALLING,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockError(pub embedded_io::ErrorKind);

impl std::fmt::Display for MockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for MockError {}

impl embedded_io::Error for MockError {
    fn kind(&self) -> embedded_io::ErrorKind {
        self.0
    }
}

pub struct Io {
    net: Net,
    cfg: IoCfg,
    rng: u64,
    idle: u32,
}

impl Io {
    fn roll(&mut self) -> bool {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % 100 < self.cfg.block_pct
    }

    fn idle_tick(&mut self) {
        self.idle += 1;
        assert!(
            self.idle < 200_000,
            "client is waiting for something the script never sends"
        );
        self.net.clock.set(self.net.clock.get() + self.cfg.tick_ms);
    }

    /// Ok(Some(n)): n bytes; Ok(None): nothing yet.
    fn try_read(&mut self, buf: &mut [u8]) -> Option<usize> {
        let now = self.net.now();
        let mut b = self.net.broker.borrow_mut();
        b.pump(now);
        if b.outbox.is_empty() {
            return if b.closed { Some(0) } else { None };
        }
        let n = self.cfg.read_chunk.min(b.outbox.len()).min(buf.len());
        for slot in &mut buf[..n] {
            *slot = b.outbox.pop_front().unwrap();
        }
        Some(n)
    }

    fn do_write(&mut self, buf: &[u8]) -> Result<usize, MockError> {
        let now = self.net.now();
        let mut b = self.net.broker.borrow_mut();
        if b.closed {
            return Err(MockError(embedded_io::ErrorKind::BrokenPipe));
        }
        let n = self.cfg.write_chunk.min(buf.len());
        b.inbox.extend_from_slice(&buf[..n]);
        b.writes.push(n);
        b.pump(now);
        Ok(n)
    }
}

impl embedded_io::ErrorType for Io {
    type Error = MockError;
}

impl embedded_io::Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, MockError> {
        match self.try_read(buf) {
            Some(n) => Ok(n),
            None => {
                self.idle_tick();
                Err(MockError(embedded_io::ErrorKind::TimedOut))
            }
        }
    }
}

impl embedded_io::Write for Io {
    fn write(&mut self, buf: &[u8]) -> Result<usize, MockError> {
        self.do_write(buf)
    }
    fn flush(&mut self) -> Result<(), MockError> {
        Ok(())
    }
}

impl embedded_io::ReadReady for Io {
    fn read_ready(&mut self) -> Result<bool, MockError> {
        if self.roll() {
            return Ok(false);
        }
        let now = self.net.now();
        let mut b = self.net.broker.borrow_mut();
        b.pump(now);
        Ok(!b.outbox.is_empty() || b.closed)
    }
}

impl embedded_io::WriteReady for Io {
    fn write_ready(&mut self) -> Result<bool, MockError> {
        Ok(!self.roll())
    }
}

impl embedded_io_async::Read for Io {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, MockError> {
        std::future::poll_fn(|_| match self.try_read(buf) {
            Some(n) => Poll::Ready(Ok(n)),
            None => Poll::Pending,
        })
        .await
    }
}

impl embedded_io_async::Write for Io {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, MockError> {
        self.do_write(buf)
    }
    async fn flush(&mut self) -> Result<(), MockError> {
        Ok(())
    }
}

/// Fake delay: time passes at once.
pub struct Delay(pub Net, pub u32);

impl embedded_hal_async::delay::DelayNs for Delay {
    async fn delay_ns(&mut self, ns: u32) {
        self.1 += 1;
        assert!(
            self.1 < 200_000,
            "client is waiting for something the script never sends"
        );
        let ms = u64::from(ns / 1_000_000).max(1);
        self.0.clock.set(self.0.clock.get() + ms);
    }
}

/// An event with owned data, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Connected(bool),
    Message {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        dup: bool,
    },
    Published(u16, QoS),
    Subscribed(u16, Vec<SubackCode>),
    Unsubscribed(u16),
    LostMessage(u16, Vec<u8>),
    LostReleased(u16),
    LostSubscribe(u16),
    LostUnsubscribe(u16),
    LostStreamed(u16),
    /// A piece of a streamed message: topic, offset, total, bytes.
    Chunk(String, usize, usize, Vec<u8>),
    /// A session snapshot is due (its length without application bytes).
    SaveSession(usize),
    Disconnected,
}

impl From<Event<'_>> for Ev {
    fn from(e: Event<'_>) -> Self {
        match e {
            Event::Connected { session_present } => Ev::Connected(session_present),
            Event::Message(p) => Ev::Message {
                topic: p.topic.as_str().to_string(),
                payload: p.payload.to_vec(),
                qos: p.qos(),
                retain: p.retain,
                dup: p.dup,
            },
            Event::Published { pid, qos } => Ev::Published(pid.get(), qos),
            Event::Subscribed { pid, codes } => Ev::Subscribed(pid.get(), codes.iter().collect()),
            Event::Unsubscribed { pid } => Ev::Unsubscribed(pid.get()),
            Event::Lost(Lost::Message { pid, message }) => {
                Ev::LostMessage(pid.get(), message.payload.to_vec())
            }
            Event::Lost(Lost::Released { pid }) => Ev::LostReleased(pid.get()),
            Event::Lost(Lost::Subscribe { pid }) => Ev::LostSubscribe(pid.get()),
            Event::Lost(Lost::Unsubscribe { pid }) => Ev::LostUnsubscribe(pid.get()),
            Event::Lost(Lost::Streamed { pid }) => Ev::LostStreamed(pid.get()),
            Event::Chunk(c) => {
                Ev::Chunk(c.topic.as_str().into(), c.offset, c.total, c.data.to_vec())
            }
            Event::Disconnected => Ev::Disconnected,
            Event::SaveSession(s) => Ev::SaveSession(s.snapshot_len(0)),
        }
    }
}

pub type DErr = umqtt::Error<MockError>;

/// Events the driver handed to its handler (while an operation waited), in order.
pub type Handled = Rc<RefCell<VecDeque<Ev>>>;

/// The handler every test driver gets: it keeps the events for `next_event`.
pub type Handler = Box<dyn FnMut(Event<'_>)>;

fn handler(handled: &Handled, net: &Net) -> Handler {
    let handled = handled.clone();
    let fail = net.fail_saves.clone();
    Box::new(move |e: Event<'_>| {
        if let Event::SaveSession(s) = &e {
            if fail.get() > 0 {
                fail.set(fail.get() - 1);
                s.failed();
            }
        }
        handled.borrow_mut().push_back(e.into())
    })
}

type BoxClock = Box<dyn FnMut() -> u64>;

/// The operations every driver offers, so one scenario runs through all three.
pub trait Drive {
    fn name(&self) -> &'static str;
    fn connect(&mut self) -> Result<bool, DErr>;
    fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, DErr>;
    fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<PacketId, DErr>;
    fn unsubscribe(&mut self, filter: &str) -> Result<PacketId, DErr>;
    /// `publish_from` with `source`; None for a driver without it (non-blocking).
    fn publish_from(
        &mut self,
        _topic: &str,
        _len: usize,
        _qos: QoS,
        _source: &mut Source,
    ) -> Option<Result<Option<PacketId>, DErr>> {
        None
    }
    /// The next event: first those the handler got while an operation waited.
    fn next_event(&mut self) -> Result<Ev, DErr>;
    fn wait_published(&mut self) -> Result<(), DErr>;
    fn disconnect(&mut self) -> Result<(), DErr>;
    /// The driver's reconnect with `open`, waiting out `backoff` on the fake clock.
    fn reconnect(
        &mut self,
        open: &mut dyn FnMut(u32) -> Result<Io, MockError>,
        backoff: &mut Backoff,
    ) -> Result<bool, DErr>;
    fn new_transport(&mut self, io: Io);
    /// Lets a non-blocking driver write what it still holds (the others always do).
    fn write_out(&mut self) {}
    /// The events the handler got.
    fn handled(&self) -> &Handled;
}

/// A payload source for `publish_from`: hands out `data` in reads of at most `step` bytes,
/// and fails (or ends, with `eof`) after `fail_at` bytes.
pub struct Source {
    pub data: Vec<u8>,
    pub pos: usize,
    pub step: usize,
    pub fail_at: Option<usize>,
    pub eof: bool,
}

impl Source {
    pub fn new(data: Vec<u8>, step: usize) -> Source {
        Source {
            data,
            pos: 0,
            step,
            fail_at: None,
            eof: false,
        }
    }
}

impl embedded_io::ErrorType for Source {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        let end = self.fail_at.unwrap_or(self.data.len()).min(self.data.len());
        if self.pos >= end {
            return match (self.fail_at, self.eof) {
                (Some(_), false) => Err(embedded_io::ErrorKind::Other),
                _ => Ok(0),
            };
        }
        let n = buf.len().min(self.step).min(end - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

pub struct B {
    pub d: Blocking<Vec<u8>, Io, BoxClock, Handler>,
    pub net: Net,
    pub handled: Handled,
}

/// A blocking delay on the fake clock.
pub struct BlockingDelay(pub Net);

impl embedded_hal::delay::DelayNs for BlockingDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.0
            .clock
            .set(self.0.clock.get() + u64::from(ns / 1_000_000).max(1));
    }
}

impl Drive for B {
    fn name(&self) -> &'static str {
        "blocking"
    }
    fn connect(&mut self) -> Result<bool, DErr> {
        self.d.connect()
    }
    fn publish(&mut self, t: &str, p: &[u8], q: QoS, r: bool) -> Result<Option<PacketId>, DErr> {
        self.d.publish(t, p, q, r)
    }
    fn subscribe(&mut self, f: &str, q: QoS) -> Result<PacketId, DErr> {
        self.d.subscribe(f, q)
    }
    fn publish_from(
        &mut self,
        t: &str,
        len: usize,
        q: QoS,
        src: &mut Source,
    ) -> Option<Result<Option<PacketId>, DErr>> {
        Some(self.d.publish_from(t, len, q, false, src))
    }
    fn unsubscribe(&mut self, f: &str) -> Result<PacketId, DErr> {
        self.d.unsubscribe(f)
    }
    fn next_event(&mut self) -> Result<Ev, DErr> {
        if let Some(e) = self.handled.borrow_mut().pop_front() {
            return Ok(e);
        }
        self.d.next_event().map(Ev::from)
    }
    fn wait_published(&mut self) -> Result<(), DErr> {
        self.d.wait_published()
    }
    fn disconnect(&mut self) -> Result<(), DErr> {
        self.d.disconnect()
    }
    fn reconnect(
        &mut self,
        open: &mut dyn FnMut(u32) -> Result<Io, MockError>,
        backoff: &mut Backoff,
    ) -> Result<bool, DErr> {
        self.d
            .reconnect(open, backoff, &mut BlockingDelay(self.net.clone()))
    }
    fn new_transport(&mut self, io: Io) {
        self.d.replace_transport(io);
    }
    fn write_out(&mut self) {
        self.d.flush().unwrap();
    }
    fn handled(&self) -> &Handled {
        &self.handled
    }
}

pub struct N {
    pub d: NonBlocking<Vec<u8>, Io, BoxClock, Handler>,
    pub net: Net,
    pub handled: Handled,
}

impl N {
    /// Polls once; WouldBlock lets fake time pass.
    fn step(&mut self) -> Result<Option<Ev>, DErr> {
        match self.d.next_event() {
            Ok(e) => Ok(Some(e.into())),
            Err(nb::Error::WouldBlock) => {
                self.tick();
                Ok(None)
            }
            Err(nb::Error::Other(e)) => Err(e),
        }
    }

    fn tick(&self) {
        self.net.clock.set(self.net.clock.get() + 10);
    }

    /// `nb::block!` with fake time passing between the calls.
    fn block<R>(
        &mut self,
        mut op: impl FnMut(&mut Self) -> nb::Result<R, DErr>,
    ) -> Result<R, DErr> {
        for _ in 0..2_000_000 {
            match op(self) {
                Ok(r) => return Ok(r),
                Err(nb::Error::Other(e)) => return Err(e),
                Err(nb::Error::WouldBlock) => self.tick(),
            }
        }
        panic!("non-blocking operation never completed")
    }
}

impl Drive for N {
    fn name(&self) -> &'static str {
        "nonblocking"
    }
    fn connect(&mut self) -> Result<bool, DErr> {
        self.block(|s| s.d.connect())
    }
    fn publish(&mut self, t: &str, p: &[u8], q: QoS, r: bool) -> Result<Option<PacketId>, DErr> {
        self.block(|s| s.d.publish(t, p, q, r))
    }
    fn subscribe(&mut self, f: &str, q: QoS) -> Result<PacketId, DErr> {
        self.block(|s| s.d.subscribe(f, q))
    }
    fn unsubscribe(&mut self, f: &str) -> Result<PacketId, DErr> {
        self.block(|s| s.d.unsubscribe(f))
    }
    fn next_event(&mut self) -> Result<Ev, DErr> {
        if let Some(e) = self.handled.borrow_mut().pop_front() {
            return Ok(e);
        }
        for _ in 0..2_000_000 {
            if let Some(e) = self.step()? {
                return Ok(e);
            }
        }
        panic!("no event")
    }
    fn wait_published(&mut self) -> Result<(), DErr> {
        self.block(|s| s.d.wait_published())
    }
    fn disconnect(&mut self) -> Result<(), DErr> {
        self.block(|s| s.d.disconnect())
    }
    fn reconnect(
        &mut self,
        open: &mut dyn FnMut(u32) -> Result<Io, MockError>,
        backoff: &mut Backoff,
    ) -> Result<bool, DErr> {
        self.block(|s| s.d.reconnect(&mut *open, backoff))
    }
    fn new_transport(&mut self, io: Io) {
        self.d.replace_transport(io);
    }
    fn write_out(&mut self) {
        for _ in 0..10_000 {
            if !self.d.client().wants_write() {
                return;
            }
            self.d.check_msg().unwrap();
            self.tick();
        }
    }
    fn handled(&self) -> &Handled {
        &self.handled
    }
}

pub struct A {
    pub d: Async<Vec<u8>, Io, BoxClock, Delay, Handler>,
    pub net: Net,
    pub handled: Handled,
}

impl Drive for A {
    fn name(&self) -> &'static str {
        "async"
    }
    fn connect(&mut self) -> Result<bool, DErr> {
        embassy_futures::block_on(self.d.connect())
    }
    fn publish(&mut self, t: &str, p: &[u8], q: QoS, r: bool) -> Result<Option<PacketId>, DErr> {
        embassy_futures::block_on(self.d.publish(t, p, q, r))
    }
    fn subscribe(&mut self, f: &str, q: QoS) -> Result<PacketId, DErr> {
        embassy_futures::block_on(self.d.subscribe(f, q))
    }
    fn publish_from(
        &mut self,
        t: &str,
        len: usize,
        q: QoS,
        src: &mut Source,
    ) -> Option<Result<Option<PacketId>, DErr>> {
        Some(embassy_futures::block_on(
            self.d.publish_from(t, len, q, false, src),
        ))
    }
    fn unsubscribe(&mut self, f: &str) -> Result<PacketId, DErr> {
        embassy_futures::block_on(self.d.unsubscribe(f))
    }
    fn next_event(&mut self) -> Result<Ev, DErr> {
        if let Some(e) = self.handled.borrow_mut().pop_front() {
            return Ok(e);
        }
        embassy_futures::block_on(async { self.d.next_event().await.map(Ev::from) })
    }
    fn wait_published(&mut self) -> Result<(), DErr> {
        embassy_futures::block_on(self.d.wait_published())
    }
    fn disconnect(&mut self) -> Result<(), DErr> {
        embassy_futures::block_on(self.d.disconnect())
    }
    fn reconnect(
        &mut self,
        open: &mut dyn FnMut(u32) -> Result<Io, MockError>,
        backoff: &mut Backoff,
    ) -> Result<bool, DErr> {
        let open = |attempt: u32| {
            let io = open(attempt);
            async move { io }
        };
        let mut delay = Delay(self.net.clone(), 0);
        embassy_futures::block_on(self.d.reconnect(open, backoff, &mut delay))
    }
    fn new_transport(&mut self, io: Io) {
        self.d.replace_transport(io);
    }
    fn write_out(&mut self) {
        embassy_futures::block_on(self.d.flush()).unwrap();
    }
    fn handled(&self) -> &Handled {
        &self.handled
    }
}

/// Which driver a scenario runs through.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Blocking,
    NonBlocking,
    Async,
}

pub const KINDS: [Kind; 3] = [Kind::Blocking, Kind::NonBlocking, Kind::Async];

/// Builds the driver of `kind` over `client` and a transport for `net`.
pub fn driver(kind: Kind, client: Client<Vec<u8>>, net: &Net, cfg: IoCfg) -> Box<dyn Drive> {
    let clock = net.clock.clone();
    let clock: BoxClock = Box::new(move || clock.get());
    let io = net.io(cfg);
    let handled = Handled::default();
    let h = handler(&handled, net);
    match kind {
        Kind::Blocking => Box::new(B {
            d: Blocking::new(client, io, clock, h),
            net: net.clone(),
            handled,
        }),
        Kind::NonBlocking => Box::new(N {
            d: NonBlocking::new(client, io, clock, h),
            net: net.clone(),
            handled,
        }),
        Kind::Async => Box::new(A {
            d: Async::new(client, io, clock, Delay(net.clone(), 0), h),
            net: net.clone(),
            handled,
        }),
    }
}

/// Runs `scenario` for every driver and transport shape, with fresh buffers each time.
pub fn each(
    options: impl Fn() -> ConnectOptions<'static>,
    rx_len: usize,
    scenario: impl Fn(&mut dyn Drive, &Net),
) {
    for kind in KINDS {
        for cfg in IoCfg::ALL {
            let client = Client::new(options(), vec![0; rx_len], vec![0; 512], vec![0; 1024]);
            let client = client.unwrap();
            let net = Net::new(vec![]);
            let mut d = driver(kind, client, &net, cfg);
            eprintln!("-- {} {cfg:?}", d.name());
            scenario(&mut *d, &net);
            d.write_out();
            assert!(
                net.finished(),
                "{} {cfg:?}: script not finished: {:?}",
                d.name(),
                net.broker.borrow().steps
            );
        }
    }
}
