//! paho's `loop_start` (feature `std`, Unix): [`StdClient::spawn`] moves the client to a
//! network thread of its own, which owns the connection, reconnects, restores subscriptions
//! and runs the callbacks, and gives back a [`StdNetwork`]: the thread, and a
//! [`StdHandle`] — cloneable, `Send + Sync` — that any thread publishes, subscribes and
//! unsubscribes through.
//!
//! ```no_run
//! use umqtt::{ConnectOptions, QoS, StdClient};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut mqtt = StdClient::connect("mqtt://127.0.0.1:1883", ConnectOptions::new("app")?)?;
//! mqtt.on_connect(|mqtt| {
//!     let _ = mqtt.publish("app/status", "online", QoS::AtLeastOnce, true);
//! })?;
//! mqtt.on("sensors/#", QoS::AtLeastOnce, |m| println!("{}: {:?}", m.topic, m.payload))?;
//! let network = mqtt.spawn()?; // loop_start(): the network runs in the background
//! for i in 0..10 {
//!     network.publish("sensors/temp", format!("{i}"), QoS::AtLeastOnce, false)?;
//!     std::thread::sleep(std::time::Duration::from_millis(500));
//! }
//! network.stop()?; // loop_stop(): every message acknowledged, disconnected, thread ended
//! # Ok(()) }
//! ```
//!
//! Callbacks publish through a handle too: [`StdClient::on_connect`] gets one, and any
//! callback can hold one taken with [`StdClient::handle`] before registering it. From a
//! callback (and before `spawn`) a call is queued and returns at once.
//!
//! The commands wait in a bounded queue ([`COMMAND_QUEUE`] of them): a publisher that
//! outruns the network blocks until the network thread takes its command — back-pressure,
//! never unbounded memory. Each call returns what the same call on the [`StdClient`]
//! returns, once the network thread carried it out. The network thread sleeps in `poll(2)`
//! on its socket and on a wake-up socket the handles write to, until bytes arrive, a
//! command comes or the keep-alive is due: no polling sleeps.

use std::boxed::Box;
use std::cell::Cell;
use std::io::{self, Write as _};
use std::os::fd::AsFd as _;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, TryRecvError, TrySendError};
use std::thread::JoinHandle;

use rustix::event::PollFlags;

mod queue;

pub use queue::COMMAND_QUEUE;
use queue::{Command, Ends, Reply};
pub(crate) use queue::{Queue, Wakeup};

use super::std_client::StdClient;
use crate::client::State;
use crate::error::LinkError;
use crate::{Error, PacketId, QoS, StdError};

std::thread_local! {
    /// This thread is a network thread (its callbacks must not wait for it).
    static ON_NETWORK: Cell<bool> = const { Cell::new(false) };
}

fn on_network() -> bool {
    ON_NETWORK.with(Cell::get)
}

/// A handle to a [`StdClient`] running on its network thread ([`StdClient::spawn`]).
/// Cloneable and `Send + Sync`; when the last one is dropped, the network thread disconnects
/// and ends (a handle one of the client's own callbacks holds counts: end such a client with
/// [`StdHandle::disconnect`]).
pub struct StdHandle {
    ends: Ends,
}

impl Clone for StdHandle {
    fn clone(&self) -> Self {
        self.ends.handle()
    }
}

impl Drop for StdHandle {
    fn drop(&mut self) {
        if self.ends.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.stop();
        }
    }
}

impl core::fmt::Debug for StdHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StdHandle").finish_non_exhaustive()
    }
}

/// Answers a command's caller (who may have stopped waiting).
fn answer<T>(reply: &Reply<T>, result: Result<T, StdError>) -> Result<(), StdError> {
    let _ = reply.send(result);
    Ok(())
}

/// The error of a handle whose network thread has ended.
fn gone<T>() -> Result<T, StdError> {
    Err(Error::Link(LinkError::NotConnected))
}

impl StdHandle {
    /// Nobody can answer now: a callback on the network thread, or no network thread yet.
    fn queue_only(&self) -> bool {
        on_network() || !self.ends.started.load(Ordering::Acquire)
    }

    /// Tells the network thread to make no more connection attempts, and wakes it.
    fn stop(&self) {
        self.ends.stopping.store(true, Ordering::Release);
        let _ = (&*self.ends.wake).write(&[1]);
    }

    /// Queues `command` for the network thread and wakes it; when nobody can answer now
    /// ([`Self::queue_only`]) the command must not wait: the queue has room, or it is an
    /// error.
    fn send(&self, command: Command) -> Result<(), StdError> {
        let sent = match self.queue_only() {
            true => self.ends.commands.try_send(command).map_err(|e| match e {
                TrySendError::Full(_) => Error::Io(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the command queue is full, and nothing drains it now (a callback, or before spawn)",
                )),
                TrySendError::Disconnected(_) => Error::Link(LinkError::NotConnected),
            }),
            false => self
                .ends
                .commands
                .send(command)
                .map_err(|_| Error::Link(LinkError::NotConnected)),
        };
        sent?;
        // A full wake-up socket already holds a wake-up: nothing is lost by skipping one.
        let _ = (&*self.ends.wake).write(&[1]);
        Ok(())
    }

    /// Asks and waits for the answer (or, when nobody can answer now, asks only).
    fn ask<T>(
        &self,
        command: impl FnOnce(Option<Reply<T>>) -> Command,
    ) -> Result<Option<T>, StdError> {
        if self.queue_only() {
            self.send(command(None))?;
            return Ok(None);
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(command(Some(reply)))?;
        // The network thread sets `ended` before it drops what is queued: a command sent
        // after that is answered here, one sent before is dropped (and `recv` says so).
        let answered = match self.ends.ended.load(Ordering::Acquire) {
            true => answer.try_recv().ok(), // answered just before it ended, or never
            false => answer.recv().ok(),
        };
        match answered {
            Some(result) => result.map(Some),
            None => gone(),
        }
    }

    /// Publishes (see [`StdClient::publish`]): returns once the network thread took the
    /// message (QoS 1/2: in the session, delivered across reconnects; the id
    /// `Event::Published` will carry). From a callback, or before [`StdClient::spawn`], it
    /// is queued and returns at once with `None`: the network thread publishes it when the
    /// callback returns (when it starts).
    pub fn publish(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, StdError> {
        crate::driver::steps::topic_name::<io::Error>(topic)?;
        let command = |reply| Command::Publish {
            topic: topic.into(),
            payload: payload.as_ref().to_vec(),
            qos,
            retain,
            reply,
        };
        Ok(self.ask(command)?.flatten())
    }

    /// Subscribes (see [`StdClient::subscribe`]; restored after reconnects). From a callback:
    /// queued, `None`.
    pub fn subscribe(&self, filter: &str, qos: QoS) -> Result<Option<PacketId>, StdError> {
        crate::driver::steps::topic_filter::<io::Error>(filter)?;
        self.ask(|reply| Command::Subscribe {
            filter: filter.into(),
            qos,
            reply,
        })
    }

    /// Unsubscribes (see [`StdClient::unsubscribe`]). From a callback: queued, `None`.
    pub fn unsubscribe(&self, filter: &str) -> Result<Option<PacketId>, StdError> {
        crate::driver::steps::topic_filter::<io::Error>(filter)?;
        self.ask(|reply| Command::Unsubscribe {
            filter: filter.into(),
            reply,
        })
    }

    /// Waits for every QoS 1/2 message published so far to be acknowledged (and for what the
    /// callbacks publish meanwhile), then disconnects gracefully; the network thread ends
    /// (its `JoinHandle` returns). A link that is down is not reconnected for it: the thread
    /// ends at once, `Ok` when nothing was left unacknowledged, else `NotConnected` (a
    /// persistent session keeps those messages for the next client). Not from a callback.
    pub fn disconnect(&self) -> Result<(), StdError> {
        if self.queue_only() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::WouldBlock,
                "disconnect from a callback (or before spawn) would wait for nobody",
            )));
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Command::Disconnect { reply })?;
        self.stop(); // after the command: a thread between rounds sees both
        let answered = match self.ends.ended.load(Ordering::Acquire) {
            true => answer.try_recv().ok(),
            false => answer.recv().ok(),
        };
        answered.unwrap_or_else(gone)
    }
}

/// The network thread of a spawned [`StdClient`] ([`StdClient::spawn`]), and a handle to
/// it: it derefs to a [`StdHandle`] (publish, subscribe, …); [`StdNetwork::handle`] gives
/// other threads one. [`StdNetwork::stop`] is paho's `loop_stop`; dropping it stops the
/// thread too (and waits for it).
pub struct StdNetwork {
    handle: StdHandle,
    thread: Option<JoinHandle<Result<(), StdError>>>,
}

impl core::fmt::Debug for StdNetwork {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StdNetwork").finish_non_exhaustive()
    }
}

impl core::ops::Deref for StdNetwork {
    type Target = StdHandle;

    fn deref(&self) -> &StdHandle {
        &self.handle
    }
}

impl StdNetwork {
    /// A handle for another thread.
    pub fn handle(&self) -> StdHandle {
        self.handle.clone()
    }

    /// Disconnects ([`StdHandle::disconnect`]: every QoS 1/2 message acknowledged first)
    /// and waits for the network thread to end: the disconnect's result, or the error that
    /// had ended the thread before.
    pub fn stop(mut self) -> Result<(), StdError> {
        self.end(true)
    }

    /// Waits for the network thread to end by itself — another thread's
    /// [`StdHandle::disconnect`], or an error no reconnect mends — and returns why.
    pub fn join(mut self) -> Result<(), StdError> {
        self.end(false)
    }

    fn end(&mut self, disconnect: bool) -> Result<(), StdError> {
        let disconnected = match disconnect {
            true => self.handle.disconnect(),
            false => Ok(()),
        };
        // A callback that owns this would wait for its own thread.
        let Some(thread) = self.thread.take().filter(|_| !on_network()) else {
            return disconnected;
        };
        match thread.join() {
            Ok(Ok(())) => disconnected,
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Io(io::Error::other("the network thread panicked"))),
        }
    }
}

impl Drop for StdNetwork {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.end(true);
        }
    }
}

impl StdClient {
    /// A handle to this client for other threads and for its own callbacks (take it before
    /// registering a callback that publishes). Commands sent before [`StdClient::spawn`]
    /// are queued for the network thread and return at once: at most [`COMMAND_QUEUE`] of
    /// them, then the call is a `WouldBlock` error.
    pub fn handle(&mut self) -> io::Result<StdHandle> {
        if self.queue.is_none() {
            self.queue = Some(Queue::new()?);
        }
        match &self.queue {
            Some(queue) => Ok(queue.handle()),
            None => Err(io::ErrorKind::Other.into()),
        }
    }

    /// Calls `callback` with a handle each time a connection is up (paho's `on_connect`):
    /// the first one too, even when [`StdClient::connect`] made it before the callback was
    /// set, and after every reconnect — the place to announce the client ("online"). Its
    /// calls are queued and return at once, as from any callback; subscriptions are
    /// restored without it. The handle it holds keeps the network thread alive: end such a
    /// client with [`StdNetwork::stop`] or [`StdHandle::disconnect`].
    pub fn on_connect(
        &mut self,
        mut callback: impl FnMut(&StdHandle) + Send + 'static,
    ) -> io::Result<()> {
        let handle = self.handle()?;
        let mut callback: Box<dyn FnMut() + Send> = Box::new(move || callback(&handle));
        let mut shared = self.shared();
        if core::mem::take(&mut shared.connect_unseen) {
            callback();
        }
        shared.on_connect = Some(callback);
        Ok(())
    }

    /// Moves the client to a network thread of its own (paho's `loop_start`). The thread
    /// runs the callbacks, reconnects and restores subscriptions as the client's calls do;
    /// it ends at [`StdNetwork::stop`] (or [`StdHandle::disconnect`] from any handle), when
    /// every handle is dropped, or on an error no reconnect can mend (a refusal, the
    /// backoff's last attempt), which [`StdNetwork::stop`] and [`StdNetwork::join`] return.
    pub fn spawn(mut self) -> io::Result<StdNetwork> {
        let handle = self.handle()?;
        let Some(queue) = self.queue.take() else {
            return Err(io::ErrorKind::Other.into());
        };
        let Queue { inbox, woken, ends } = queue;
        let Ends {
            started,
            ended,
            stopping,
            ..
        } = ends;
        self.wakeup = Some(Wakeup { woken, stopping });
        started.store(true, Ordering::Release);
        let network = std::thread::Builder::new()
            .name("umqtt-network".into())
            .spawn(move || {
                ON_NETWORK.with(|on| on.set(true));
                let result = self.network(&inbox);
                // Whatever waits in the queue now gets no answer: said at once, not never.
                ended.store(true, Ordering::Release);
                while inbox.try_recv().is_ok() {}
                result
            })?;
        Ok(StdNetwork {
            handle,
            thread: Some(network),
        })
    }

    /// The network thread: carry out the commands, hand out what arrived, then sleep until
    /// the socket, a handle or the keep-alive has something.
    fn network(mut self, inbox: &Receiver<Command>) -> Result<(), StdError> {
        loop {
            // At most a queue's worth of commands per round: reading is not starved.
            for _ in 0..COMMAND_QUEUE {
                match inbox.try_recv() {
                    Ok(Command::Disconnect { reply }) => {
                        let _ = reply.send(self.finish(inbox)); // the caller's to hear
                        return Ok(());
                    }
                    Ok(command) => self.carry_out(command)?,
                    Err(TryRecvError::Empty) => break,
                    // Every handle is gone: nobody can ask for anything any more.
                    Err(TryRecvError::Disconnected) => return self.finish(inbox),
                }
            }
            let more = match self.check_ready() {
                Ok(more) => more,
                // A broker that broke the protocol: the link is closed, the next round
                // reconnects — unless another connection would meet the same (a refusal,
                // a packet larger than rx): that ends the thread with the error.
                Err(e @ Error::Broker(_)) if crate::driver::reconnect::worth_retrying(&e) => {
                    let _ = e;
                    true
                }
                // A handle asked to stop while the link was down: its command (or the
                // queue's end, when the last handle is being dropped) comes next.
                Err(_) if self.stopping() => continue,
                Err(e) => return Err(e),
            };
            if !more {
                self.sleep()?;
            }
        }
    }

    /// The end: waits for the acknowledgements of what was published (while the link is
    /// up: a handle asked to stop, so a lost link is not reconnected), carrying out what
    /// callbacks queue meanwhile, then disconnects. Unacknowledged messages on a lost link
    /// are the error `NotConnected`.
    fn finish(&mut self, inbox: &Receiver<Command>) -> Result<(), StdError> {
        for _ in 0..COMMAND_QUEUE {
            if self.client().state() == State::Closed && self.settled() {
                return Ok(());
            }
            self.wait_published()?;
            let mut queued = false;
            while let Ok(command) = inbox.try_recv() {
                queued = true;
                self.carry_out(command)?;
            }
            if !queued {
                return self.disconnect();
            }
        }
        self.disconnect()?;
        Err(Error::Io(io::Error::other(
            "the callbacks went on publishing while the client disconnected",
        )))
    }

    /// Carries out one command and answers it. A command nobody waits for (a callback's)
    /// returns its error: it ends the network thread rather than vanish — except a QoS 0
    /// message the link lost, which QoS 0 allows.
    fn carry_out(&mut self, command: Command) -> Result<(), StdError> {
        match command {
            Command::Publish {
                topic,
                payload,
                qos,
                retain,
                reply,
            } => {
                let result = self.publish(&topic, payload, qos, retain);
                match reply {
                    Some(reply) => answer(&reply, result),
                    None if qos == QoS::AtMostOnce => result.map(drop).or_else(|e| match e {
                        Error::Link(_) | Error::Io(_) => Ok(()),
                        e => Err(e),
                    }),
                    None => result.map(drop),
                }
            }
            Command::Subscribe { filter, qos, reply } => {
                let result = self.subscribe(&filter, qos);
                match reply {
                    Some(reply) => answer(&reply, result),
                    None => result.map(drop),
                }
            }
            Command::Unsubscribe { filter, reply } => {
                let result = self.unsubscribe(&filter);
                match reply {
                    Some(reply) => answer(&reply, result),
                    None => result.map(drop),
                }
            }
            // A second disconnect while the first one finishes: its caller hears
            // `NotConnected` (the reply is dropped).
            Command::Disconnect { .. } => Ok(()),
        }
    }

    /// Sleeps in `poll(2)` until the socket is readable (or writable, when bytes wait), a
    /// handle wrote to the wake-up socket, or the core's next deadline.
    fn sleep(&mut self) -> Result<(), StdError> {
        let timeout = self.next_timeout_ms();
        let flags = match self.client().wants_write() {
            true => PollFlags::IN | PollFlags::OUT,
            false => PollFlags::IN,
        };
        let Some(wakeup) = &self.wakeup else {
            return Ok(());
        };
        let socket = self.link().socket().map(|s| (s.as_fd(), flags));
        wakeup.sleep(socket, timeout)
    }
}
