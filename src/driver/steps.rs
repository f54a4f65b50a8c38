//! What the three drivers share: the steps that move bytes between a transport and the
//! [`Client`] core, the `&str` → topic checks, and the one body of the blocking and async
//! drivers ([`operations!`]). No protocol rule lives here.

use crate::Error;
use crate::client::{Buffer, Client};
use crate::error::LinkError;
use crate::topic::{TopicFilter, TopicName};

/// How many reads, writes and packets one call that never blocks handles at most before it
/// returns, so that a flood from the broker cannot keep it busy.
pub(crate) const STEPS_PER_POLL: usize = 64;

/// Records a transport failure or end of stream in the core.
pub(crate) fn lost<B: Buffer, E>(client: &mut Client<B>, e: Error<E>) -> Error<E> {
    if e.closes_connection() {
        client.connection_lost();
    }
    e
}

/// Records one transport write in the core: `n` bytes went out at `now()`; 0 bytes or an error
/// end the connection.
pub(crate) fn after_write<B: Buffer, E>(
    client: &mut Client<B>,
    now: impl FnOnce() -> u64,
    written: Result<usize, E>,
) -> Result<(), Error<E>> {
    match written {
        Ok(0) => Err(lost(client, LinkError::Closed.into())),
        Ok(n) => {
            client.transmitted(n, now());
            Ok(())
        }
        Err(e) => Err(lost(client, Error::Io(e))),
    }
}

/// Records one transport read in the core; `Ok(false)` when the read only timed out (no data
/// within the transport's read timeout). End of stream or an error end the connection.
pub(crate) fn after_read<B: Buffer, E: embedded_io::Error>(
    client: &mut Client<B>,
    read: Result<usize, E>,
) -> Result<bool, Error<E>> {
    match read {
        Ok(0) => Err(lost(client, LinkError::Closed.into())),
        Ok(n) => {
            client.received(n);
            Ok(true)
        }
        Err(e) if e.kind() == embedded_io::ErrorKind::TimedOut => Ok(false),
        Err(e) => Err(lost(client, Error::Io(e))),
    }
}

/// A caller's topic name, checked.
pub(crate) fn topic_name<E>(topic: &str) -> Result<TopicName<'_>, Error<E>> {
    TopicName::new(topic).map_err(Error::from)
}

/// A caller's topic filter, checked.
pub(crate) fn topic_filter<E>(filter: &str) -> Result<TopicFilter<'_>, Error<E>> {
    TopicFilter::new(filter).map_err(Error::from)
}

/// The operations of the blocking and the async driver, written once: `[async]` `[.await]`
/// for the async driver, `[]` `[]` for the blocking one, with the delay trait and the
/// closure trait that opens a transport. The driver itself provides `read_or_wait` (wait for
/// bytes or the core's next deadline) and has the fields `client`, `io`, `clock`, `handler`.
macro_rules! operations {
    ([$($async:tt)*] [$($await:tt)*] $Delay:path, $Open:ident) => {
        /// The core, for its state and counters.
        pub fn client(&self) -> &Client<B> {
            &self.client
        }

        /// The transport, for what it knows (a socket to wait on, the peer's address).
        pub fn transport(&self) -> &T {
            &self.io
        }

        /// Milliseconds until the core's next deadline (keep-alive, a timeout) by the
        /// driver's clock, or `None` when no timer runs: how long a loop that waits on the
        /// transport itself may sleep.
        pub fn next_timeout_ms(&mut self) -> Option<u64> {
            let deadline = self.client.next_deadline()?;
            Some(deadline.saturating_sub(self.clock.now_ms()))
        }

        /// Replaces the transport, returning the old one: a new transport is a new
        /// connection (the one on the old transport ends; the session is kept), so
        /// [`Self::connect`] next. [`Self::reconnect`] does this for you.
        pub fn replace_transport(&mut self, io: T) -> T {
            if self.client.state() != State::Closed {
                self.client.connection_lost();
            }
            core::mem::replace(&mut self.io, io)
        }

        /// A `publish_from` cancelled mid-payload (the async driver) left half a PUBLISH on
        /// the wire: nothing can follow it, so the connection is closed and the next call
        /// says why ([`crate::CallerError::PayloadCancelled`]); reconnect.
        fn abandoned(&mut self) -> core::result::Result<(), Error<T::Error>> {
            #[cfg(feature = "streaming")]
            if self.client.payload_due() > 0 {
                self.client.connection_lost();
                return Err(crate::CallerError::PayloadCancelled.into());
            }
            Ok(())
        }

        /// Writes everything queued (acknowledgements of the last event included).
        pub $($async)* fn flush(&mut self) -> core::result::Result<(), Error<T::Error>> {
            self.abandoned()?;
            self.flush_queued() $($await)*
        }

        /// [`Self::flush`] within an operation (a streamed head may be due).
        $($async)* fn flush_queued(&mut self) -> core::result::Result<(), Error<T::Error>> {
            if !self.write_queued() $($await)*? {
                let flushed = self.io.flush() $($await)*;
                flushed.map_err(|e| lost(&mut self.client, Error::Io(e)))?;
            }
            Ok(())
        }

        /// Writes and flushes what is queued; false (and no I/O) when nothing was.
        $($async)* fn write_queued(&mut self) -> core::result::Result<bool, Error<T::Error>> {
            let mut wrote = false;
            loop {
                let pending = self.client.poll_transmit();
                if pending.is_empty() {
                    break;
                }
                wrote = true;
                let written = self.io.write(pending) $($await)*;
                after_write(&mut self.client, || self.clock.now_ms(), written)?;
            }
            if wrote {
                let flushed = self.io.flush() $($await)*;
                flushed.map_err(|e| lost(&mut self.client, Error::Io(e)))?;
            }
            Ok(wrote)
        }

        /// One step of driving the connection: process one packet or timer; when there is
        /// none, write what is queued, or else wait for bytes. True when the core found an
        /// event (for [`Client::event`]).
        ///
        /// No I/O between finding an event and handing it out: a failed write then would
        /// lose a message whose acknowledgement may already be on the wire. The
        /// acknowledgements of the messages handed out go out together once the bytes read
        /// are used up, before anything more is read (one write for a burst, not one per
        /// message): a cut connection leaves at most the messages of one read handed out
        /// and not acknowledged, which the broker sends again (`tests/fault_injection.rs`
        /// checks this bound).
        $($async)* fn advance(&mut self) -> core::result::Result<bool, Error<T::Error>> {
            self.advance_until(None) $($await)*
        }

        /// [`Self::advance`], waiting for bytes at most until `until` (the clock's time) when
        /// the driver can (the async one; the blocking one waits one transport read).
        $($async)* fn advance_until(
            &mut self,
            until: Option<u64>,
        ) -> core::result::Result<bool, Error<T::Error>> {
            if self.client.state() == State::Closed {
                return Err(LinkError::NotConnected.into());
            }
            let now = self.clock.now_ms();
            match self.client.advance(now).map_err(Error::with_io)? {
                Progress::Event => return Ok(true),
                Progress::Continue => {}
                Progress::Idle => {
                    if !self.write_queued() $($await)*? {
                        self.read_or_wait(until) $($await)*?;
                    }
                }
            }
            Ok(false)
        }

        /// [`Self::advance`], handing an event found to the handler; true if one was.
        pub(crate) $($async)* fn step(&mut self) -> core::result::Result<bool, Error<T::Error>> {
            if !self.advance() $($await)*? {
                return Ok(false);
            }
            if let Some(event) = self.client.event() {
                (self.handler)(event);
            }
            Ok(true)
        }

        /// Moves bytes until the core has an event for [`Client::event`].
        $($async)* fn until_event(&mut self) -> core::result::Result<(), Error<T::Error>> {
            while !self.advance() $($await)*? {}
            Ok(())
        }

        /// Connects on the current transport (CONNECT, then waits for CONNACK) and returns
        /// the broker's session_present. Messages the broker did not keep are reported as
        /// [`Event::Lost`] next. One CONNECT per transport (MQTT-3.1.0-2): already
        /// connected, it returns session_present; a connect cancelled before its CONNACK
        /// (async) goes on waiting; while a disconnect drains it is `NotConnected` — give a
        /// new transport ([`Self::replace_transport`]) first.
        pub $($async)* fn connect(&mut self) -> core::result::Result<bool, Error<T::Error>> {
            match self.client.state() {
                State::Closed => {
                    let now = self.clock.now_ms();
                    self.client.connect(now).map_err(Error::with_io)?;
                }
                State::Connected => return Ok(self.client.session_present()),
                State::Connecting => {}
                State::Disconnecting => return Err(LinkError::NotConnected.into()),
            }
            loop {
                self.until_event() $($await)*?;
                match self.client.event() {
                    Some(Event::Connected { session_present }) => return Ok(session_present),
                    Some(event) => (self.handler)(event), // a session to save, say
                    None => {}
                }
            }
        }

        /// Connects, or connects again after the link was lost: opens a transport with
        /// `open(attempt)` (attempt 0, 1, …; choose the broker by attempt to try several),
        /// sends CONNECT and waits for CONNACK. After a failure it waits `backoff`'s next
        /// delay and tries again, until `backoff` runs out of attempts
        /// ([`Backoff::max_attempts`]; unlimited by default); then the last error is returned.
        /// A refusal other than "server unavailable" is returned at once: retrying would not
        /// change it. On success returns session_present; unacknowledged messages are resent
        /// or reported [`Event::Lost`], and [`ConnectOptions::resubscribe`] subscriptions are
        /// restored when the session was not resumed.
        ///
        /// [`ConnectOptions::resubscribe`]: crate::client::ConnectOptions::resubscribe
        pub $($async)* fn reconnect(
            &mut self,
            mut open: impl $Open(u32) -> core::result::Result<T, T::Error>,
            backoff: &mut Backoff,
            delay: &mut impl $Delay,
        ) -> core::result::Result<bool, Error<T::Error>> {
            backoff.reset();
            loop {
                let attempt = backoff.attempt();
                let result = match open(attempt) $($await)* {
                    Ok(io) => {
                        self.client.connection_lost();
                        self.io = io;
                        self.connect() $($await)*
                    }
                    Err(e) => Err(Error::Io(e)),
                };
                let e = match result {
                    Ok(session_present) => {
                        backoff.reset();
                        return Ok(session_present);
                    }
                    Err(e) if !crate::driver::reconnect::worth_retrying(&e) => return Err(e),
                    Err(e) => e,
                };
                match backoff.next_delay_ms() {
                    Some(ms) => {
                        info!("reconnect attempt {} failed ({:?}); next in {} ms", attempt, e.kind_only(), ms);
                        delay.delay_ms(ms) $($await)*
                    }
                    None => {
                        warn!("reconnect attempt {} failed ({:?}); giving up", attempt, e.kind_only());
                        return Err(e);
                    }
                }
            }
        }

        /// Waits for the next event and returns it (the handler does not see it). Keeps the
        /// connection alive meanwhile.
        pub $($async)* fn next_event(&mut self) -> core::result::Result<Event<'_>, Error<T::Error>> {
            self.abandoned()?;
            self.until_event() $($await)*?;
            self.client
                .event()
                .ok_or(Error::Link(LinkError::NotConnected))
        }

        /// Drives the connection for `ms` milliseconds (of the driver's clock), handing every
        /// event to the handler: the loop of a program that also has a timer of its own
        /// ("publish every second"). Returns then — the blocking driver up to one transport
        /// read timeout later. Unlike cutting `wait_msg` short from outside (a `select` with a
        /// timer), it never interrupts a write. It lasts at least `ms`: a millisecond clock
        /// reads the start up to 1 ms late, so the wait ends one tick later.
        pub $($async)* fn run_for(&mut self, ms: u64) -> core::result::Result<(), Error<T::Error>> {
            self.abandoned()?;
            let deadline_ms = self
                .clock
                .now_ms()
                .saturating_add(ms)
                .saturating_add(u64::from(ms > 0));
            while self.clock.now_ms() < deadline_ms {
                if self.advance_until(Some(deadline_ms)) $($await)*? {
                    if let Some(event) = self.client.event() {
                        (self.handler)(event);
                    }
                }
            }
            Ok(())
        }

        /// Waits until the next event and hands it to the handler (`umqtt.simple`'s
        /// `wait_msg`).
        pub $($async)* fn wait_msg(&mut self) -> core::result::Result<(), Error<T::Error>> {
            self.abandoned()?;
            while !self.step() $($await)*? {}
            Ok(())
        }

        /// Runs a core operation, driving the connection while it has no room (events go to
        /// the handler). `Ok` means the packet is in the session: a write that fails after
        /// that closes the connection, and the next call reports it (`NotConnected`: reconnect)
        /// rather than this one (retrying would send a QoS 1/2 message twice) — except for
        /// `strict` (QoS 0) packets, whose write error is returned.
        $($async)* fn with_room<R>(
            &mut self,
            strict: bool,
            mut op: impl FnMut(&mut Client<B>) -> nb::Result<R, Error>,
        ) -> core::result::Result<R, Error<T::Error>> {
            self.abandoned()?;
            loop {
                match op(&mut self.client) {
                    Ok(r) => {
                        // A session snapshot first (it reaches the handler), then the packet.
                        #[cfg(feature = "persistence")]
                        while self.client.save_due() {
                            self.step() $($await)*?;
                        }
                        let flushed = self.flush_queued() $($await)*;
                        if strict {
                            flushed?;
                        }
                        return Ok(r);
                    }
                    Err(nb::Error::Other(e)) => return Err(e.with_io()),
                    Err(nb::Error::WouldBlock) => {
                        self.step() $($await)*?;
                    }
                }
            }
        }

        /// Publishes `payload` (bytes or a string) to `topic`, waiting for room in the
        /// in-flight window if it is full (events that arrive meanwhile go to the handler).
        /// QoS 1/2 return the id that [`Event::Published`] will carry.
        ///
        /// `Ok` for QoS 1/2 means the message is in the session: it is delivered even if the
        /// connection fails now (it is resent after a reconnect); do not publish it again.
        /// A QoS 0 message is written before `Ok`; a failed write is the error.
        pub $($async)* fn publish(
            &mut self,
            topic: &str,
            payload: impl AsRef<[u8]>,
            qos: QoS,
            retain: bool,
        ) -> core::result::Result<Option<PacketId>, Error<T::Error>> {
            let topic = topic_name(topic)?;
            let payload = payload.as_ref();
            let strict = qos == QoS::AtMostOnce;
            self.with_room(strict, |c| c.publish(topic, payload, qos, retain)) $($await)*
        }

        /// Queues a PUBLISH now if there is room, with no I/O and no wait: `WouldBlock` when
        /// there is none (drive the connection and try again). For an event loop that must be
        /// cancel-safe: it answers its caller in the same step as the message enters the
        /// session, so a cancelled `poll` can never publish it twice.
        #[allow(dead_code)] // only the tokio event loop uses it
        pub(crate) fn queue_publish(
            &mut self,
            topic: &str,
            payload: &[u8],
            qos: QoS,
            retain: bool,
        ) -> nb::Result<Option<PacketId>, Error<T::Error>> {
            let topic = topic_name(topic)?;
            self.client
                .publish(topic, payload, qos, retain)
                .map_err(|e| e.map(Error::with_io))
        }

        /// Publishes a `len`-byte payload read from `source` (a file, flash, a socket) straight
        /// to the transport, staged through the tx buffer a piece at a time: a payload larger
        /// than every buffer (feature `streaming`; see [`Client::publish_head`] for the model).
        /// Waits for room like [`Self::publish`]. `source` must give exactly `len` bytes: if it
        /// fails or ends early, the connection is closed (half a PUBLISH went out) and the
        /// error is [`crate::CallerError::PayloadSource`]. QoS 1/2: keep the source until
        /// [`Event::Published`] carries the returned id; after [`crate::Lost::Streamed`],
        /// publish it again. The source is a blocking `embedded_io::Read` in both drivers: in
        /// the async one each read runs inside the future, so give it a source that answers at
        /// once (flash, memory, a file on a local disk), not one that waits (a socket).
        #[cfg(feature = "streaming")]
        pub $($async)* fn publish_from<S: embedded_io::Read>(
            &mut self,
            topic: &str,
            len: usize,
            qos: QoS,
            retain: bool,
            source: &mut S,
        ) -> core::result::Result<Option<PacketId>, Error<T::Error>> {
            let topic = topic_name(topic)?;
            // Strict: the head is written before `Ok`, or the error comes back (and the message
            // is not in the session).
            let pid = self.with_room(true, |c| c.publish_head(topic, len, qos, retain)) $($await)*?;
            while self.client.payload_due() > 0 {
                let n = match source.read(self.client.payload_space()) {
                    Ok(n) if n > 0 => n,
                    _ => {
                        self.client.connection_lost();
                        return Err(crate::CallerError::PayloadSource.into());
                    }
                };
                let mut sent = 0;
                while sent < n {
                    let piece = self.client.payload_space().get(sent..n).unwrap_or_default();
                    match self.io.write(piece) $($await)* {
                        Ok(0) => return Err(lost(&mut self.client, LinkError::Closed.into())),
                        Ok(w) => sent += w,
                        Err(e) => return Err(lost(&mut self.client, Error::Io(e))),
                    }
                }
                let now = self.clock.now_ms();
                self.client.payload_written(n, now);
            }
            if self.client.state() != State::Connected {
                return Err(LinkError::NotConnected.into()); // closed before the payload went out
            }
            self.flush_queued() $($await)*?;
            Ok(pid)
        }

        /// Subscribes to one filter, waiting for room if needed; the broker's answer comes as
        /// [`Event::Subscribed`].
        pub $($async)* fn subscribe(&mut self, filter: &str, qos: QoS) -> core::result::Result<PacketId, Error<T::Error>> {
            let filter = topic_filter(filter)?;
            self.subscribe_many(&[Subscription { filter, qos }]) $($await)*
        }

        /// Subscribes to several filters in one SUBSCRIBE.
        pub $($async)* fn subscribe_many(
            &mut self,
            subscriptions: &[Subscription<'_>],
        ) -> core::result::Result<PacketId, Error<T::Error>> {
            self.with_room(false, |c| c.subscribe(subscriptions)) $($await)*
        }

        /// Unsubscribes from one filter; the answer comes as [`Event::Unsubscribed`].
        pub $($async)* fn unsubscribe(&mut self, filter: &str) -> core::result::Result<PacketId, Error<T::Error>> {
            let filter = topic_filter(filter)?;
            self.with_room(false, |c| c.unsubscribe(&[filter])) $($await)*
        }

        /// Waits until every QoS 1/2 message published so far is acknowledged (PUBACK /
        /// PUBCOMP) and everything queued is written; events go to the handler meanwhile.
        pub $($async)* fn wait_published(&mut self) -> core::result::Result<(), Error<T::Error>> {
            self.abandoned()?;
            while !self.client.all_published() {
                self.step() $($await)*?;
            }
            Ok(())
        }

        /// Disconnects gracefully: completes inbound QoS 2 exchanges still open and writes
        /// every queued acknowledgement (events go to the handler meanwhile, the last one
        /// [`Event::Disconnected`]), then sends DISCONNECT. Close or drop the transport
        /// afterwards: umqtt's std transports then wait for the broker's end, so no unread
        /// answer turns the close into a TCP reset (a broker that gets one drops what it had
        /// not read yet, the DISCONNECT among it: its will fires). Called again while one
        /// drains (a cancelled async one), it goes on.
        /// It does not wait for the acknowledgements of your own QoS 1/2 messages (they stay
        /// in the session for the next connection): call [`Self::wait_published`] first.
        pub $($async)* fn disconnect(&mut self) -> core::result::Result<(), Error<T::Error>> {
            self.abandoned()?;
            // A disconnect already draining (one cancelled in the async driver) goes on.
            if self.client.state() != State::Disconnecting {
                let now = self.clock.now_ms();
                self.client.disconnect(now).map_err(Error::with_io)?;
            }
            while self.client.state() != State::Closed {
                self.step() $($await)*?;
            }
            Ok(())
        }
    };
}
pub(crate) use operations;
