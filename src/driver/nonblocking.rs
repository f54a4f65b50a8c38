//! The non-blocking driver, over `embedded_io::{Read, Write, ReadReady, WriteReady}`: the
//! `umqtt.simple` `check_msg` way. No call ever blocks: the transport is read only when it
//! says it is read-ready and written only when it says it is write-ready, so a packet can
//! stop halfway in either direction and resume on a later call.
//!
//! The operations have the blocking driver's names and return `nb::Result`:
//! `WouldBlock` means "not done yet, call again". An operation that cannot proceed (no room
//! in the in-flight window, the tx buffer or the store) drives the connection one round
//! before it says `WouldBlock`, handing every event that arrives to the handler given to
//! [`NonBlocking::new`]; so `nb::block!(mqtt.publish(..))` loses nothing.

use embedded_io::{Read, ReadReady, Write, WriteReady};

use crate::Error;
use crate::client::{Buffer, Client, Event, Progress, State};
use crate::driver::reconnect::{Backoff, worth_retrying};
use crate::driver::steps::{
    STEPS_PER_POLL, after_read, after_write, lost, topic_filter, topic_name,
};
use crate::driver::time::Clock;
use crate::error::LinkError;
use crate::packet::{PacketId, QoS, Subscription};

/// A non-blocking MQTT client: the [`Client`] core driven over a non-blocking transport, with
/// a handler for the events that arrive while an operation waits.
pub struct NonBlocking<B, T, C, H> {
    client: Client<B>,
    io: T,
    clock: C,
    handler: H,
    /// [`NonBlocking::reconnect`] is under way: its CONNECT is out (while connecting), or
    /// no attempt before `retry_at`.
    reconnecting: bool,
    retry_at: Option<u64>,
}

/// The non-blocking driver's result: `nb::Result`, whose `WouldBlock` means "not done yet,
/// call again" — so `?` does not apply to it directly: wrap a call in `nb::block!` (umqtt
/// re-exports [`nb`]) to wait for it, or match `WouldBlock` in a loop that does
/// other work.
pub type NbResult<R, E> = nb::Result<R, Error<E>>;

impl<B, T, C, H> NonBlocking<B, T, C, H>
where
    B: Buffer,
    T: Read + Write + ReadReady + WriteReady,
    C: Clock,
    H: FnMut(Event<'_>),
{
    /// Drives `client` over the connected transport `io`, with time from `clock`. `handler`
    /// gets the events that arrive while an operation waits, and those of
    /// [`NonBlocking::check_msg`].
    pub fn new(client: Client<B>, io: T, clock: C, handler: H) -> Self {
        NonBlocking {
            client,
            io,
            clock,
            handler,
            reconnecting: false,
            retry_at: None,
        }
    }

    /// The core, for its state and counters.
    pub fn client(&self) -> &Client<B> {
        &self.client
    }

    /// Replaces the transport (for a reconnect), returning the old one: a new transport is a
    /// new connection (the one on the old transport ends; the session is kept), so
    /// [`Self::connect`] next.
    pub fn replace_transport(&mut self, io: T) -> T {
        if self.client.state() != State::Closed {
            self.client.connection_lost();
        }
        core::mem::replace(&mut self.io, io)
    }

    /// Takes the driver apart.
    pub fn into_parts(self) -> (Client<B>, T, C, H) {
        (self.client, self.io, self.clock, self.handler)
    }

    /// Writes while the transport is write-ready and bytes wait; true if it wrote.
    fn write_ready_bytes(&mut self) -> Result<bool, Error<T::Error>> {
        let mut wrote = false;
        for _ in 0..STEPS_PER_POLL {
            if !self.client.wants_write() {
                break;
            }
            match self.io.write_ready() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(lost(&mut self.client, Error::Io(e))),
            }
            let pending = self.client.poll_transmit();
            let written = self.io.write(pending);
            after_write(&mut self.client, || self.clock.now_ms(), written)?;
            wrote = true;
        }
        Ok(wrote)
    }

    /// Reads once if the transport is read-ready; true when bytes arrived.
    fn read_ready_bytes(&mut self) -> Result<bool, Error<T::Error>> {
        match self.io.read_ready() {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => return Err(lost(&mut self.client, Error::Io(e))),
        }
        let space = self.client.rx_space();
        if space.is_empty() {
            return Ok(false);
        }
        let read = self.io.read(space);
        after_read(&mut self.client, read)
    }

    /// Does what can be done without blocking — write, read, process, keep alive — until the
    /// core has an event (true) or nothing more can happen now (false).
    fn advance(&mut self) -> Result<bool, Error<T::Error>> {
        if self.client.state() == State::Closed {
            return Err(LinkError::NotConnected.into());
        }
        for _ in 0..STEPS_PER_POLL {
            let now = self.clock.now_ms();
            match self.client.advance(now).map_err(Error::with_io)? {
                // No I/O after an event was found: a failed write would lose it (its
                // acknowledgement may already be on the wire). What is queued is written
                // once the bytes read are used up, before reading more: the
                // acknowledgements of a burst together.
                Progress::Event => return Ok(true),
                Progress::Continue => {}
                Progress::Idle => {
                    if self.write_ready_bytes()? {
                        continue;
                    }
                    if !self.read_ready_bytes()? {
                        break;
                    }
                }
            }
        }
        self.write_ready_bytes()?;
        Ok(false)
    }

    /// Drives the connection one round, handing the events found to the handler; the round
    /// ends early when an event closed the connection (a disconnect's `Disconnected`).
    fn drive(&mut self) -> Result<(), Error<T::Error>> {
        for _ in 0..STEPS_PER_POLL {
            if !self.advance()? {
                return Ok(());
            }
            if let Some(event) = self.client.event() {
                (self.handler)(event);
            }
            if self.client.state() == State::Closed {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Queues CONNECT on the current transport (the first call, when not connecting) and
    /// returns `WouldBlock` until CONNACK arrives; then the broker's session_present. Messages
    /// the broker did not keep are reported as [`Event::Lost`] next. One CONNECT per transport
    /// (MQTT-3.1.0-2): while a disconnect drains it is `NotConnected` — give a new transport
    /// ([`Self::replace_transport`]) first.
    pub fn connect(&mut self) -> NbResult<bool, T::Error> {
        match self.client.state() {
            State::Disconnecting => return Err(nb::Error::Other(LinkError::NotConnected.into())),
            State::Closed => {
                let now = self.clock.now_ms();
                self.client.connect(now).map_err(Error::with_io)?;
            }
            State::Connected => return Ok(self.client.session_present()),
            State::Connecting => {}
        }
        if self.advance()? {
            match self.client.event() {
                Some(Event::Connected { session_present }) => return Ok(session_present),
                Some(event) => (self.handler)(event),
                None => {}
            }
        }
        Err(nb::Error::WouldBlock)
    }

    /// Connects, or connects again after the link was lost, without blocking: the first call
    /// opens a transport with `open(attempt)` and connects (see [`NonBlocking::connect`]);
    /// after a failure it says `WouldBlock` until `backoff`'s next delay has passed, then
    /// tries again — until `backoff` runs out of attempts, when the last error is returned.
    /// A refusal other than "server unavailable" is returned at once. Call it until it
    /// returns; `Ok` is the broker's session_present, and resets `backoff`.
    pub fn reconnect(
        &mut self,
        mut open: impl FnMut(u32) -> Result<T, T::Error>,
        backoff: &mut Backoff,
    ) -> NbResult<bool, T::Error> {
        let now = self.clock.now_ms();
        if self.retry_at.is_some_and(|at| now < at) {
            return Err(nb::Error::WouldBlock);
        }
        if !self.reconnecting && self.retry_at.is_none() {
            backoff.reset(); // a new round of attempts
        }
        self.retry_at = None;
        let state = self.client.state();
        let result = if self.reconnecting && matches!(state, State::Connecting | State::Connected) {
            self.connect() // the CONNACK may have been read by another call
        } else {
            self.reconnecting = true;
            match open(backoff.attempt()) {
                Ok(io) => {
                    self.client.connection_lost();
                    self.io = io;
                    self.connect()
                }
                Err(e) => Err(nb::Error::Other(Error::Io(e))),
            }
        };
        match &result {
            Err(nb::Error::WouldBlock) => return Err(nb::Error::WouldBlock),
            Err(nb::Error::Other(e)) if worth_retrying(e) => {
                if let Some(ms) = backoff.next_delay_ms() {
                    self.retry_at = Some(now.saturating_add(u64::from(ms)));
                    return Err(nb::Error::WouldBlock);
                }
            }
            _ => {}
        }
        self.reconnecting = false;
        if result.is_ok() {
            backoff.reset();
        }
        result
    }

    /// Does whatever can be done without blocking — write, read, process, keep alive — and
    /// returns the next event (the handler does not see it), or `WouldBlock` when there is
    /// none yet. Call it often (every 100 ms is plenty for keep-alive);
    /// [`Client::next_deadline`] says when it must run.
    pub fn next_event(&mut self) -> NbResult<Event<'_>, T::Error> {
        if self.advance()? {
            if let Some(event) = self.client.event() {
                return Ok(event);
            }
        }
        Err(nb::Error::WouldBlock)
    }

    /// Hands every event that is ready to the handler (`umqtt.simple`'s `check_msg`) and
    /// keeps the connection alive. Never blocks.
    pub fn check_msg(&mut self) -> Result<(), Error<T::Error>> {
        self.drive()
    }

    /// Runs a core operation; without room, drives the connection one round (events go to the
    /// handler) and says `WouldBlock`. See [`crate::driver::blocking::Blocking::publish`] for what
    /// `Ok` means; a `strict` (QoS 0) packet's write error is returned.
    fn with_room<R>(
        &mut self,
        strict: bool,
        op: impl FnOnce(&mut Client<B>) -> nb::Result<R, Error>,
    ) -> NbResult<R, T::Error> {
        match op(&mut self.client) {
            Ok(r) => {
                self.save_first()?;
                let written = self.write_ready_bytes();
                if strict {
                    written?;
                }
                Ok(r)
            }
            Err(nb::Error::Other(e)) => Err(nb::Error::Other(e.with_io())),
            Err(nb::Error::WouldBlock) => {
                self.drive()?;
                Err(nb::Error::WouldBlock)
            }
        }
    }

    /// Hands a session save the operation made due to the handler at once (no I/O): a save
    /// that fails is the operation's error, and nothing of it is written.
    fn save_first(&mut self) -> Result<(), Error<T::Error>> {
        #[cfg(feature = "persistence")]
        for _ in 0..STEPS_PER_POLL {
            if !self.client.save_due() {
                break;
            }
            let now = self.clock.now_ms();
            if self.client.advance(now).map_err(Error::with_io)? == Progress::Event {
                if let Some(event) = self.client.event() {
                    (self.handler)(event);
                }
            }
        }
        Ok(())
    }

    /// Queues a PUBLISH and writes what the transport takes now; `WouldBlock` while the
    /// in-flight window or a buffer is full (the connection was driven meanwhile: call
    /// again). QoS 1/2 return the id [`Event::Published`] will carry; `Ok` means the message
    /// is in the session, do not publish it again.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: QoS,
        retain: bool,
    ) -> NbResult<Option<PacketId>, T::Error> {
        let topic = topic_name(topic)?;
        let payload = payload.as_ref();
        let strict = qos == QoS::AtMostOnce;
        self.with_room(strict, |c| c.publish(topic, payload, qos, retain))
    }

    /// Queues a SUBSCRIBE to one filter; the answer comes as [`Event::Subscribed`].
    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> NbResult<PacketId, T::Error> {
        let filter = topic_filter(filter)?;
        self.subscribe_many(&[Subscription { filter, qos }])
    }

    /// Queues a SUBSCRIBE to several filters.
    pub fn subscribe_many(
        &mut self,
        subscriptions: &[Subscription<'_>],
    ) -> NbResult<PacketId, T::Error> {
        self.with_room(false, |c| c.subscribe(subscriptions))
    }

    /// Queues an UNSUBSCRIBE; the answer comes as [`Event::Unsubscribed`].
    pub fn unsubscribe(&mut self, filter: &str) -> NbResult<PacketId, T::Error> {
        let filter = topic_filter(filter)?;
        self.with_room(false, |c| c.unsubscribe(&[filter]))
    }

    /// `Ok` once every QoS 1/2 message published so far is acknowledged and everything queued
    /// is written; until then drives the connection (events go to the handler) and says
    /// `WouldBlock`.
    pub fn wait_published(&mut self) -> NbResult<(), T::Error> {
        if self.client.all_published() {
            return Ok(());
        }
        self.drive()?;
        match self.client.all_published() {
            true => Ok(()),
            false => Err(nb::Error::WouldBlock),
        }
    }

    /// Disconnects gracefully (see [`Client::disconnect`]): the first call starts it; later
    /// calls drive the connection (events go to the handler, the last one
    /// [`Event::Disconnected`]) until DISCONNECT is written.
    pub fn disconnect(&mut self) -> NbResult<(), T::Error> {
        if matches!(self.client.state(), State::Connected | State::Connecting) {
            let now = self.clock.now_ms();
            self.client.disconnect(now).map_err(Error::with_io)?;
        }
        if self.client.state() != State::Closed {
            self.drive()?;
        }
        match self.client.state() {
            State::Closed => Ok(()),
            _ => Err(nb::Error::WouldBlock),
        }
    }
}
