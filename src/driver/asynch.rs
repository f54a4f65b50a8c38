//! The async driver, over `embedded_io_async::{Read, Write}` (embassy-net sockets; tokio
//! through `embedded-io-adapters`), with an `embedded_hal_async::delay::DelayNs` to wake up
//! for keep-alive while no bytes arrive. Same operations as [`crate::driver::blocking::Blocking`],
//! from the same source: operations that wait for room drive the connection and hand the
//! events that arrive meanwhile to the handler.
//!
//! ## Cancel safety
//!
//! - [`Async::next_event`] is cancel-safe when the transport's `read` is (embassy-net's and
//!   tokio's are): bytes already read stay in the rx buffer, and an unfinished write resumes
//!   where it stopped on the next call, because the client tracks what was written.
//! - [`Async::publish`], [`Async::subscribe`] and [`Async::unsubscribe`]: cancelled while
//!   they wait for room, nothing was queued; cancelled after, the packet is still sent by the
//!   next call (its packet identifier is then lost to the caller, but the acknowledgement
//!   still arrives as an event).
//! - [`Async::publish_from`] (feature `streaming`): cancelled before its head is queued,
//!   nothing was; cancelled mid-payload, half a PUBLISH is on the wire and nothing may follow
//!   it: the next call closes the connection and returns
//!   [`crate::CallerError::PayloadCancelled`] (reconnect).
//! - [`Async::disconnect`]: cancelled while it drains, call it again and it goes on.
//! - [`Async::connect`] and [`Async::reconnect`] are not cancel-safe: cancelled, the
//!   connection is in an unknown state; start over with a new transport.

use embassy_futures::select::{Either, select};
use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{Read, Write};

use crate::Error;
use crate::client::{Buffer, Client, Event, Progress, State};
use crate::driver::reconnect::Backoff;
use crate::driver::steps::{after_read, after_write, lost, operations, topic_filter, topic_name};
use crate::driver::time::Clock;
use crate::error::LinkError;
use crate::packet::{PacketId, QoS, Subscription};

/// An async MQTT client: the [`Client`] core driven over an async transport, with a handler
/// for the events that arrive while an operation waits.
pub struct Async<B, T, C, D, H> {
    client: Client<B>,
    io: T,
    clock: C,
    delay: D,
    handler: H,
}

impl<B: Buffer, T: Read + Write, C: Clock, D: DelayNs, H: FnMut(Event<'_>)> Async<B, T, C, D, H> {
    /// Drives `client` over the transport `io`, with time from `clock`, waits from `delay`,
    /// and `handler` for the events that arrive while an operation waits.
    pub fn new(client: Client<B>, io: T, clock: C, delay: D, handler: H) -> Self {
        Async {
            client,
            io,
            clock,
            delay,
            handler,
        }
    }

    /// Takes the driver apart.
    pub fn into_parts(self) -> (Client<B>, T, C, D, H) {
        (self.client, self.io, self.clock, self.delay, self.handler)
    }

    /// Reads once, or returns when the core's next deadline (or `until`) passes first.
    async fn read_or_wait(&mut self, until: Option<u64>) -> Result<(), Error<T::Error>> {
        let now = self.clock.now_ms();
        let deadline = match (self.client.next_deadline(), until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wait_ms = deadline.map(|d| d.saturating_sub(now));
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

    operations!([async] [.await] DelayNs, AsyncFnMut);
}
