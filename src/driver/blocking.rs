//! The blocking driver, over `embedded_io::{Read, Write}`: the `umqtt.simple` way.
//!
//! Each call blocks until it is done. Operations that need room — `publish` at a full
//! in-flight window, `subscribe`, [`Blocking::wait_published`], a graceful
//! [`Blocking::disconnect`] — drive the connection while they wait, and hand every event that
//! arrives meanwhile to the handler given to [`Blocking::new`]; [`Blocking::next_event`]
//! returns events to you directly. Either way each event reaches you once.
//!
//! The connection is kept alive while a call runs, if the transport's `read` returns now and
//! then: give it a read timeout (the std adapter's is 100 ms; a timeout is reported as
//! `ErrorKind::TimedOut` and means "no data yet"). The core asks for PINGREQ a margin before
//! the keep-alive interval ends — a quarter of the interval, at most
//! [`crate::client::KEEP_ALIVE_MARGIN_MS`] — so a read timeout no longer than that margin
//! keeps every interval within the keep-alive: up to 1 s from a 4 s keep-alive on, a quarter
//! of it below (250 ms for 1 s).

use embedded_io::{Read, ReadReady, Write};

use crate::Error;
use crate::client::{Buffer, Client, Event, Progress, State};
use crate::driver::reconnect::Backoff;
use crate::driver::steps::{
    STEPS_PER_POLL, after_read, after_write, lost, operations, topic_filter, topic_name,
};
use crate::driver::time::Clock;
use crate::error::LinkError;
use crate::packet::{PacketId, QoS, Subscription};

/// A blocking MQTT client: the [`Client`] core driven over a blocking transport, with a
/// handler for the events that arrive while an operation waits.
pub struct Blocking<B, T, C, H> {
    client: Client<B>,
    io: T,
    clock: C,
    handler: H,
}

impl<B: Buffer, T: Read + Write, C: Clock, H: FnMut(Event<'_>)> Blocking<B, T, C, H> {
    /// Drives `client` over the transport `io` (connected, or a placeholder until
    /// [`Blocking::reconnect`] opens one), with time from `clock`. `handler` gets the events
    /// that arrive while an operation waits (`|_| {}` if you only publish).
    pub fn new(client: Client<B>, io: T, clock: C, handler: H) -> Self {
        Blocking {
            client,
            io,
            clock,
            handler,
        }
    }

    /// Takes the driver apart.
    pub fn into_parts(self) -> (Client<B>, T, C, H) {
        (self.client, self.io, self.clock, self.handler)
    }

    /// Reads once (blocking until data, end of stream or the transport's timeout, which
    /// also bounds how late `run_for` returns).
    fn read_or_wait(&mut self, _until: Option<u64>) -> Result<(), Error<T::Error>> {
        let space = self.client.rx_space();
        let read = self.io.read(space);
        after_read(&mut self.client, read).map(|_| ())
    }

    operations!([] [] embedded_hal::delay::DelayNs, FnMut);
}

impl<B, T, C, H> Blocking<B, T, C, H>
where
    B: Buffer,
    T: Read + Write + ReadReady,
    C: Clock,
    H: FnMut(Event<'_>),
{
    /// Hands every event that is ready now to the handler and returns without waiting for
    /// more (`umqtt.simple`'s `check_msg`, as [`crate::NonBlocking::check_msg`]): processes
    /// what was read, runs the timers, writes what is queued, and reads only while the
    /// transport says bytes have arrived (`ReadReady`). Call it from a loop that does other
    /// work, often enough for the keep-alive ([`crate::client::KEEP_ALIVE_MARGIN_MS`]). A
    /// write still blocks while the transport takes no more.
    pub fn check_msg(&mut self) -> Result<(), Error<T::Error>> {
        self.check_ready().map(|_| ())
    }

    /// [`Self::check_msg`]; true when it stopped with work left (its step budget ran out:
    /// call again before waiting).
    pub(crate) fn check_ready(&mut self) -> Result<bool, Error<T::Error>> {
        self.abandoned()?;
        if self.client.state() == State::Closed {
            return Err(LinkError::NotConnected.into());
        }
        let mut more = true;
        for _ in 0..STEPS_PER_POLL {
            let now = self.clock.now_ms();
            match self.client.advance(now).map_err(Error::with_io)? {
                Progress::Event => {
                    if let Some(event) = self.client.event() {
                        (self.handler)(event);
                    }
                    if self.client.state() == State::Closed {
                        return Ok(false); // a disconnect's `Disconnected`
                    }
                }
                Progress::Continue => {}
                Progress::Idle => {
                    if self.write_queued()? {
                        continue; // the acknowledgements of what was handed out, together
                    }
                    let ready = self.io.read_ready();
                    if !ready.map_err(|e| lost(&mut self.client, Error::Io(e)))? {
                        more = false;
                        break;
                    }
                    self.read_or_wait(None)?;
                }
            }
        }
        self.write_queued()?; // the acknowledgements of what was handed out
        Ok(more)
    }
}
