//! The async driver, over `embedded_io_async::{Read, Write}` (embassy-net sockets; tokio
//! through `embedded-io-adapters`), with an `embedded_hal_async::delay::DelayNs` to wake up
//! for keep-alive while no bytes arrive.
//!
//! ## Cancel safety
//!
//! - [`Async::next_event`] is cancel-safe when the transport's `read` is (embassy-net's and
//!   tokio's are): bytes already read stay in the rx buffer, and an unfinished write resumes
//!   where it stopped on the next call, because the client tracks what was written.
//! - [`Async::publish`], [`Async::subscribe`] and [`Async::unsubscribe`] queue their packet
//!   before the first `.await`; cancelled during the write, the packet is still sent by the
//!   next call. Their packet identifier is then lost to the caller, but the
//!   acknowledgement still arrives as an event.
//! - [`Async::connect`] is not cancel-safe: cancelled, the connection is in an unknown state;
//!   start over with a new transport.

use embassy_futures::select::{Either, select};
use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{Read, Write};

use crate::client::{Client, Error, Event, Progress, State};
use crate::driver::{DriverError, after_read, after_write, lost};
use crate::packet::{PacketId, QoS, Subscription};
use crate::time::Clock;
use crate::topic::{TopicFilter, TopicName};

/// An async MQTT client: the [`Client`] core driven over an async transport.
pub struct Async<'a, T, C, D> {
    client: Client<'a>,
    io: T,
    clock: C,
    delay: D,
}

/// The async driver's result type.
pub type Result<T, E> = core::result::Result<T, DriverError<E>>;

impl<'a, T: Read + Write, C: Clock, D: DelayNs> Async<'a, T, C, D> {
    /// Drives `client` over the connected transport `io`, with time from `clock` and waits
    /// from `delay`.
    pub fn new(client: Client<'a>, io: T, clock: C, delay: D) -> Self {
        Async {
            client,
            io,
            clock,
            delay,
        }
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
    pub fn into_parts(self) -> (Client<'a>, T, C, D) {
        (self.client, self.io, self.clock, self.delay)
    }

    /// Writes everything queued (acknowledgements of the last message included).
    pub async fn flush(&mut self) -> Result<(), T::Error> {
        loop {
            let pending = self.client.poll_transmit();
            if pending.is_empty() {
                break;
            }
            let written = self.io.write(pending).await;
            after_write(&mut self.client, || self.clock.now_ms(), written)?;
        }
        self.io
            .flush()
            .await
            .map_err(|e| lost(&mut self.client, DriverError::Io(e)))
    }

    /// Reads once, or returns when the core's next deadline passes first.
    async fn read_or_wait(&mut self) -> Result<(), T::Error> {
        let now = self.clock.now_ms();
        let wait_ms = self.client.next_deadline().map(|d| d.saturating_sub(now));
        let space = self.client.rx_space();
        let read = match wait_ms {
            None => Some(self.io.read(space).await),
            Some(ms) => {
                let ms = u32::try_from(ms).unwrap_or(u32::MAX);
                match select(self.io.read(space), self.delay.delay_ms(ms)).await {
                    Either::First(r) => Some(r),
                    Either::Second(()) => None,
                }
            }
        };
        match read {
            None => Ok(()),
            Some(read) => after_read(&mut self.client, read).map(|_| ()),
        }
    }

    async fn until_event(&mut self) -> Result<(), T::Error> {
        loop {
            if self.client.state() == State::Closed {
                return Err(DriverError::Client(Error::NotConnected));
            }
            self.flush().await?;
            let now = self.clock.now_ms();
            match self.client.advance(now)? {
                // No I/O between finding an event and handing it out: a failed write here
                // would lose a message whose acknowledgement may already be on the wire. The
                // acknowledgement goes out with the next call (or `flush`).
                Progress::Event => return Ok(()),
                Progress::Continue => {}
                Progress::Idle => self.read_or_wait().await?,
            }
        }
    }

    /// Connects (CONNECT, then waits for CONNACK); returns the broker's session_present.
    pub async fn connect(&mut self) -> Result<bool, T::Error> {
        let now = self.clock.now_ms();
        self.client.connect(now)?;
        loop {
            self.until_event().await?;
            if let Some(Event::Connected { session_present }) = self.client.event() {
                return Ok(session_present);
            }
        }
    }

    /// Waits for the next event, keeping the connection alive meanwhile.
    pub async fn next_event(&mut self) -> Result<Event<'_>, T::Error> {
        self.until_event().await?;
        self.client
            .event()
            .ok_or(DriverError::Client(Error::NotConnected))
    }

    /// Queues with `op`, writing the tx buffer out while it is full, then writes.
    async fn queue<R>(
        &mut self,
        mut op: impl FnMut(&mut Client<'a>) -> core::result::Result<R, Error>,
    ) -> Result<R, T::Error> {
        loop {
            match op(&mut self.client) {
                Err(Error::Busy) if self.client.wants_write() => self.flush().await?,
                Err(e) => return Err(e.into()),
                Ok(r) => {
                    // Queued in the session: a failed write shows at the next call, not as a
                    // failure of this one (retrying would send a QoS 1/2 message twice).
                    let _ = self.flush().await;
                    return Ok(r);
                }
            }
        }
    }

    /// `Ok` means the message is in the session: a QoS 1/2 message is delivered even if the
    /// connection fails now (it is resent after a reconnect, which the next call reports
    /// as needed); do not publish it again.
    ///
    /// Publishes and writes the message out; QoS 1/2 return the id [`Event::Published`]
    /// will carry. `Busy` means the session store is full: process events, then retry.
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, T::Error> {
        let topic = TopicName::new(topic).map_err(Error::from)?;
        self.queue(|c| c.publish(topic, payload, qos, retain)).await
    }

    /// Subscribes to one filter; the answer comes as [`Event::Subscribed`].
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<PacketId, T::Error> {
        let filter = TopicFilter::new(filter).map_err(Error::from)?;
        self.subscribe_many(&[Subscription { filter, qos }]).await
    }

    /// Subscribes to several filters in one SUBSCRIBE.
    pub async fn subscribe_many(
        &mut self,
        subscriptions: &[Subscription<'_>],
    ) -> Result<PacketId, T::Error> {
        self.queue(|c| c.subscribe(subscriptions)).await
    }

    /// Unsubscribes from one filter; the answer comes as [`Event::Unsubscribed`].
    pub async fn unsubscribe(&mut self, filter: &str) -> Result<PacketId, T::Error> {
        let filter = TopicFilter::new(filter).map_err(Error::from)?;
        self.queue(|c| c.unsubscribe(&[filter])).await
    }

    /// Sends DISCONNECT and finishes the connection; close the transport afterwards.
    pub async fn disconnect(&mut self) -> Result<(), T::Error> {
        self.queue(|c| c.disconnect()).await?;
        let now = self.clock.now_ms();
        self.client.poll(now)?;
        Ok(())
    }
}
