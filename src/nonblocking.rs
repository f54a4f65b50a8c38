//! The non-blocking driver, over `embedded_io::{Read, Write, ReadReady, WriteReady}`: the
//! `umqtt.simple` `check_msg` way. No call ever blocks: the transport is read only when it
//! says it is read-ready and written only when it says it is write-ready, so a packet can
//! stop halfway in either direction and resume on a later call.

use embedded_io::{Read, ReadReady, Write, WriteReady};

use crate::client::{Client, Error, Event, Progress};
use crate::driver::{DriverError, after_read, after_write, lost};
use crate::packet::{PacketId, Publish, QoS, Subscription};
use crate::time::Clock;
use crate::topic::{TopicFilter, TopicName};

/// How many reads, writes and packets one [`NonBlocking::poll`] handles at most before it
/// returns, so that a flood from the broker cannot keep it busy.
const STEPS_PER_POLL: usize = 64;

/// A non-blocking MQTT client: the [`Client`] core driven over a non-blocking transport.
pub struct NonBlocking<'a, T, C> {
    client: Client<'a>,
    io: T,
    clock: C,
}

/// The non-blocking driver's result type.
pub type Result<T, E> = nb::Result<T, DriverError<E>>;

fn busy_is_would_block<T, E>(r: core::result::Result<T, Error>) -> Result<T, E> {
    r.map_err(|e| match e {
        Error::Busy => nb::Error::WouldBlock,
        e => nb::Error::Other(DriverError::Client(e)),
    })
}

impl<'a, T: Read + Write + ReadReady + WriteReady, C: Clock> NonBlocking<'a, T, C> {
    /// Drives `client` over the connected transport `io`, with time from `clock`.
    pub fn new(client: Client<'a>, io: T, clock: C) -> Self {
        NonBlocking { client, io, clock }
    }

    /// The core, for its state and counters.
    pub fn client(&self) -> &Client<'a> {
        &self.client
    }

    /// Replaces the transport (for a reconnect), returning the old one.
    pub fn replace_transport(&mut self, io: T) -> T {
        core::mem::replace(&mut self.io, io)
    }

    /// Takes the driver apart.
    pub fn into_parts(self) -> (Client<'a>, T, C) {
        (self.client, self.io, self.clock)
    }

    /// Queues CONNECT; [`NonBlocking::poll`] reports [`Event::Connected`] (or the refusal).
    pub fn connect(&mut self) -> core::result::Result<(), DriverError<T::Error>> {
        let now = self.clock.now_ms();
        self.client.connect(now)?;
        Ok(())
    }

    /// Writes while the transport is write-ready and bytes wait.
    fn write_ready_bytes(&mut self) -> core::result::Result<(), DriverError<T::Error>> {
        for _ in 0..STEPS_PER_POLL {
            if !self.client.wants_write() {
                return Ok(());
            }
            match self.io.write_ready() {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => return Err(lost(&mut self.client, DriverError::Io(e))),
            }
            let pending = self.client.poll_transmit();
            let written = self.io.write(pending);
            after_write(&mut self.client, || self.clock.now_ms(), written)?;
        }
        Ok(())
    }

    /// Reads once if the transport is read-ready; true when bytes arrived.
    fn read_ready_bytes(&mut self) -> core::result::Result<bool, DriverError<T::Error>> {
        match self.io.read_ready() {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => return Err(lost(&mut self.client, DriverError::Io(e))),
        }
        let space = self.client.rx_space();
        if space.is_empty() {
            return Ok(false);
        }
        let read = self.io.read(space);
        after_read(&mut self.client, read)
    }

    /// Does whatever can be done without blocking — write, read, process, keep alive — and
    /// returns the next event, or `WouldBlock` when there is none yet. Call it often (every
    /// 100 ms is plenty for keep-alive); [`Client::next_deadline`] says when it must run.
    pub fn poll(&mut self) -> Result<Event<'_>, T::Error> {
        let mut found = false;
        for _ in 0..STEPS_PER_POLL {
            self.write_ready_bytes()?;
            let now = self.clock.now_ms();
            match self.client.advance(now).map_err(DriverError::Client)? {
                Progress::Event => {
                    found = true;
                    break;
                }
                Progress::Continue => {}
                Progress::Idle => {
                    if !self.read_ready_bytes()? {
                        break;
                    }
                }
            }
        }
        // No I/O after an event was found: a failed write would lose it (its acknowledgement
        // may already be on the wire). The next poll writes.
        if !found {
            self.write_ready_bytes()?;
        }
        match (found, self.client.event()) {
            (true, Some(event)) => Ok(event),
            _ => Err(nb::Error::WouldBlock),
        }
    }

    /// Polls until no event is left, handing messages to `callback` (`umqtt.simple`'s
    /// `check_msg`); other events are processed and dropped. Never blocks.
    pub fn check_msg(
        &mut self,
        mut callback: impl FnMut(&Publish<'_>),
    ) -> core::result::Result<(), DriverError<T::Error>> {
        loop {
            match self.poll() {
                Ok(Event::Message(m)) => callback(&m),
                Ok(_) => {}
                Err(nb::Error::WouldBlock) => return Ok(()),
                Err(nb::Error::Other(e)) => return Err(e),
            }
        }
    }

    /// `Ok` means the message is in the session: a QoS 1/2 message is delivered even if the
    /// connection fails now (it is resent after a reconnect, which the next call reports
    /// as needed); do not publish it again.
    ///
    /// Queues a PUBLISH and writes what the transport takes now. `WouldBlock` means the tx
    /// buffer or session store is full: poll, then retry.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, T::Error> {
        let topic =
            TopicName::new(topic).map_err(|e| nb::Error::Other(DriverError::Client(e.into())))?;
        let pid = busy_is_would_block(self.client.publish(topic, payload, qos, retain))?;
        // Queued in the session: a failed write shows at the next call .
        let _ = self.write_ready_bytes();
        Ok(pid)
    }

    /// Queues a SUBSCRIBE to one filter; the answer comes as [`Event::Subscribed`].
    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<PacketId, T::Error> {
        let filter = TopicFilter::new(filter)
            .map_err(|e| nb::Error::Other(DriverError::Client(e.into())))?;
        self.subscribe_many(&[Subscription { filter, qos }])
    }

    /// Queues a SUBSCRIBE to several filters.
    pub fn subscribe_many(
        &mut self,
        subscriptions: &[Subscription<'_>],
    ) -> Result<PacketId, T::Error> {
        let pid = busy_is_would_block(self.client.subscribe(subscriptions))?;
        // Queued in the session: a failed write shows at the next call .
        let _ = self.write_ready_bytes();
        Ok(pid)
    }

    /// Queues an UNSUBSCRIBE; the answer comes as [`Event::Unsubscribed`].
    pub fn unsubscribe(&mut self, filter: &str) -> Result<PacketId, T::Error> {
        let filter = TopicFilter::new(filter)
            .map_err(|e| nb::Error::Other(DriverError::Client(e.into())))?;
        let pid = busy_is_would_block(self.client.unsubscribe(&[filter]))?;
        // Queued in the session: a failed write shows at the next call .
        let _ = self.write_ready_bytes();
        Ok(pid)
    }

    /// Queues DISCONNECT; [`NonBlocking::poll`] reports [`Event::Disconnected`] once it is
    /// written.
    pub fn disconnect(&mut self) -> Result<(), T::Error> {
        busy_is_would_block(self.client.disconnect())?;
        let _ = self.write_ready_bytes();
        Ok(())
    }
}
