//! The blocking driver, over `embedded_io::{Read, Write}`: the `umqtt.simple` way.
//!
//! Each call blocks until it is done. [`Blocking::next_event`] (and [`Blocking::wait_msg`])
//! also keep the connection alive — but only while they run, and only if the transport's
//! `read` returns now and then: give it a read timeout shorter than the keep-alive (the std
//! adapter does; a timeout is reported as `ErrorKind::TimedOut` and means "no data yet").

use embedded_hal::delay::DelayNs;
use embedded_io::{Read, Write};

use crate::client::{Client, Error, Event, Progress, State};
use crate::driver::{DriverError, after_read, after_write, lost};
use crate::packet::{PacketId, Publish, QoS, Subscription};
use crate::reconnect::Backoff;
use crate::time::Clock;
use crate::topic::{TopicFilter, TopicName};

/// A blocking MQTT client: the [`Client`] core driven over a blocking transport.
pub struct Blocking<'a, T, C> {
    client: Client<'a>,
    io: T,
    clock: C,
}

/// The blocking driver's result type.
pub type Result<T, E> = core::result::Result<T, DriverError<E>>;

impl<'a, T: Read + Write, C: Clock> Blocking<'a, T, C> {
    /// Drives `client` over the connected transport `io`, with time from `clock`.
    pub fn new(client: Client<'a>, io: T, clock: C) -> Self {
        Blocking { client, io, clock }
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

    /// Writes everything queued (acknowledgements of the last message included).
    pub fn flush(&mut self) -> Result<(), T::Error> {
        loop {
            let pending = self.client.poll_transmit();
            if pending.is_empty() {
                break;
            }
            let written = self.io.write(pending);
            after_write(&mut self.client, || self.clock.now_ms(), written)?;
        }
        self.io
            .flush()
            .map_err(|e| lost(&mut self.client, DriverError::Io(e)))
    }

    /// Reads once (blocking until data, end of stream or the transport's timeout).
    fn read(&mut self) -> Result<(), T::Error> {
        let space = self.client.rx_space();
        let read = self.io.read(space);
        after_read(&mut self.client, read).map(|_| ())
    }

    /// Moves bytes until the core has an event for [`Client::event`].
    fn until_event(&mut self) -> Result<(), T::Error> {
        loop {
            if self.client.state() == State::Closed {
                return Err(DriverError::Client(Error::NotConnected));
            }
            self.flush()?;
            let now = self.clock.now_ms();
            match self.client.advance(now)? {
                // No I/O between finding an event and handing it out: a failed write here
                // would lose a message whose acknowledgement may already be on the wire. The
                // acknowledgement goes out with the next call (or `flush`).
                Progress::Event => return Ok(()),
                Progress::Continue => {}
                Progress::Idle => self.read()?,
            }
        }
    }

    /// Connects (CONNECT, then waits for CONNACK); returns the broker's session_present.
    pub fn connect(&mut self) -> Result<bool, T::Error> {
        let now = self.clock.now_ms();
        self.client.connect(now)?;
        loop {
            self.until_event()?;
            if let Some(Event::Connected { session_present }) = self.client.event() {
                return Ok(session_present);
            }
        }
    }

    /// Reconnects after the connection was lost: opens a new transport with `open(attempt)`
    /// (choose the broker address by attempt number to try several in turn), connects, and
    /// after a failure waits the next `backoff` delay and tries again, `max_attempts` times
    /// at most. A refusal by the broker (CONNACK 1–5) is returned at once: retrying would not
    /// change it. On success returns session_present; unacknowledged messages are resent or
    /// reported lost by the core, and [`crate::client::ConnectOptions::resubscribe`]
    /// subscriptions restored when the session was not resumed.
    pub fn reconnect(
        &mut self,
        mut open: impl FnMut(u32) -> Option<T>,
        backoff: &mut Backoff,
        delay: &mut impl DelayNs,
        max_attempts: u32,
    ) -> Result<bool, T::Error> {
        let mut last = DriverError::Closed;
        for attempt in 0..max_attempts {
            if attempt > 0 {
                delay.delay_ms(backoff.next_delay_ms());
            }
            let Some(io) = open(attempt) else { continue };
            self.client.connection_lost();
            self.io = io;
            match self.connect() {
                Ok(session_present) => {
                    backoff.reset();
                    return Ok(session_present);
                }
                Err(e @ DriverError::Client(Error::Refused(_))) => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Blocks until the next event: a message, an acknowledgement, a lost request, …
    pub fn next_event(&mut self) -> Result<Event<'_>, T::Error> {
        self.until_event()?;
        self.client
            .event()
            .ok_or(DriverError::Client(Error::NotConnected))
    }

    /// Blocks until a message arrives and hands it to `callback` (`umqtt.simple`'s
    /// `wait_msg`); other events are processed and dropped.
    pub fn wait_msg(&mut self, mut callback: impl FnMut(&Publish<'_>)) -> Result<(), T::Error> {
        loop {
            if let Event::Message(m) = self.next_event()? {
                callback(&m);
                return Ok(());
            }
        }
    }

    /// Runs a core operation, writing the tx buffer out and retrying while it is full.
    fn with_room<R>(
        &mut self,
        mut op: impl FnMut(&mut Client<'a>) -> core::result::Result<R, Error>,
    ) -> Result<R, T::Error> {
        loop {
            match op(&mut self.client) {
                Err(Error::Busy) if self.client.wants_write() => self.flush()?,
                Err(e) => return Err(e.into()),
                Ok(r) => {
                    // The packet is in the session now: a failed write must not report the
                    // operation as failed (a QoS 1/2 message is resent after a reconnect, and
                    // retrying the call would send it twice). The closed connection shows at
                    // the next call.
                    let _ = self.flush();
                    return Ok(r);
                }
            }
        }
    }

    /// `Ok` means the message is in the session: a QoS 1/2 message is delivered even if the
    /// connection fails now (it is resent after a reconnect, which the next call reports
    /// as needed); do not publish it again.
    ///
    /// Publishes and writes the message out. QoS 1/2 return the id that
    /// [`Event::Published`] will carry. [`Error::Busy`] (as `DriverError::Client`) means the
    /// session store is full of unacknowledged messages: process events, then retry.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, T::Error> {
        let topic = TopicName::new(topic).map_err(Error::from)?;
        self.with_room(|c| c.publish(topic, payload, qos, retain))
    }

    /// Subscribes to one filter; the answer comes as [`Event::Subscribed`].
    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<PacketId, T::Error> {
        let filter = TopicFilter::new(filter).map_err(Error::from)?;
        self.subscribe_many(&[Subscription { filter, qos }])
    }

    /// Subscribes to several filters in one SUBSCRIBE.
    pub fn subscribe_many(
        &mut self,
        subscriptions: &[Subscription<'_>],
    ) -> Result<PacketId, T::Error> {
        self.with_room(|c| c.subscribe(subscriptions))
    }

    /// Unsubscribes from one filter; the answer comes as [`Event::Unsubscribed`].
    pub fn unsubscribe(&mut self, filter: &str) -> Result<PacketId, T::Error> {
        let filter = TopicFilter::new(filter).map_err(Error::from)?;
        self.with_room(|c| c.unsubscribe(&[filter]))
    }

    /// Sends DISCONNECT and finishes the connection; close the transport afterwards.
    pub fn disconnect(&mut self) -> Result<(), T::Error> {
        self.with_room(|c| c.disconnect())?;
        let now = self.clock.now_ms();
        self.client.poll(now)?;
        Ok(())
    }
}
