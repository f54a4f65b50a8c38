//! paho's `loop_start` (feature `std`, Unix): [`StdClient::spawn`] moves the client to a
//! network thread of its own, which owns the connection, reconnects, restores subscriptions
//! and runs the callbacks, and gives back a [`StdHandle`] — cloneable, `Send + Sync` — that
//! any thread publishes, subscribes and unsubscribes through.
//!
//! ```no_run
//! use umqtt::{ConnectOptions, QoS, StdClient};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut mqtt = StdClient::connect("mqtt://127.0.0.1:1883", ConnectOptions::new("app")?)?;
//! mqtt.on("sensors/#", QoS::AtLeastOnce, |m| println!("{}: {:?}", m.topic, m.payload))?;
//! let (handle, network) = mqtt.spawn()?; // the network runs in the background from here
//! for i in 0..10 {
//!     handle.publish("sensors/temp", format!("{i}"), QoS::AtLeastOnce, false)?;
//!     std::thread::sleep(std::time::Duration::from_millis(500));
//! }
//! handle.disconnect()?; // the network thread ends
//! network.join().expect("the network thread")?;
//! # Ok(()) }
//! ```
//!
//! A callback publishes through a handle too: take one with [`StdClient::handle`] before
//! registering it (there, the call is queued and returns at once).
//!
//! The commands wait in a bounded queue ([`COMMAND_QUEUE`] of them): a publisher that outruns the network
//! blocks until the network thread takes its command — back-pressure, never unbounded
//! memory. Each call returns what the same call on the [`StdClient`] returns, once the
//! network thread carried it out. The network thread sleeps in `poll(2)` on its socket and
//! on a wake-up socket the handles write to, until bytes arrive, a command comes or the
//! keep-alive is due: no polling sleeps.

use std::cell::Cell;
use std::io::{self, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::string::String;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::JoinHandle;
use std::vec::Vec;

use super::std_client::StdClient;
use crate::error::LinkError;
use crate::{Error, PacketId, QoS, StdError};

type Reply<T> = SyncSender<Result<T, StdError>>;

/// How many commands wait for the network thread at most; a handle's call waits for room
/// beyond that.
pub const COMMAND_QUEUE: usize = 64;

std::thread_local! {
    /// This thread is a network thread (its callbacks must not wait for it).
    static ON_NETWORK: Cell<bool> = const { Cell::new(false) };
}

fn on_network() -> bool {
    ON_NETWORK.with(Cell::get)
}

/// The queue between the handles and the network thread, made by the first
/// [`StdClient::handle`] (or [`StdClient::spawn`]).
pub(crate) struct Queue {
    commands: SyncSender<Command>,
    wake: Arc<UnixStream>,
    started: Arc<AtomicBool>,
    ended: Arc<AtomicBool>,
    inbox: Receiver<Command>,
    woken: UnixStream,
}

impl Queue {
    pub(crate) fn new() -> io::Result<Queue> {
        let (wake, woken) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        woken.set_nonblocking(true)?;
        let (commands, inbox) = mpsc::sync_channel(COMMAND_QUEUE);
        Ok(Queue {
            commands,
            wake: Arc::new(wake),
            started: Arc::default(),
            ended: Arc::default(),
            inbox,
            woken,
        })
    }

    fn handle(&self) -> StdHandle {
        StdHandle {
            commands: self.commands.clone(),
            wake: self.wake.clone(),
            started: self.started.clone(),
            ended: self.ended.clone(),
        }
    }
}

/// What a handle asks the network thread for.
pub(crate) enum Command {
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        /// None: asked from a callback, on the network thread itself (nobody waits).
        reply: Option<Reply<Option<PacketId>>>,
    },
    Subscribe {
        filter: String,
        qos: QoS,
        reply: Option<Reply<PacketId>>,
    },
    Unsubscribe {
        filter: String,
        reply: Option<Reply<PacketId>>,
    },
    Disconnect {
        reply: Reply<()>,
    },
}

/// A handle to a [`StdClient`] running on its network thread ([`StdClient::spawn`]).
/// Cloneable and `Send + Sync`; when the last one is dropped, the network thread disconnects
/// and ends (a handle one of the client's own callbacks holds counts: end such a client with
/// [`StdHandle::disconnect`]).
#[derive(Clone)]
pub struct StdHandle {
    commands: SyncSender<Command>,
    wake: Arc<UnixStream>,
    /// The network thread runs: a call may wait for it.
    started: Arc<AtomicBool>,
    /// The network thread has ended (or is ending): nobody will answer.
    ended: Arc<AtomicBool>,
}

impl core::fmt::Debug for StdHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StdHandle").finish_non_exhaustive()
    }
}

/// The error of a handle whose network thread has ended.
fn gone<T>() -> Result<T, StdError> {
    Err(Error::Link(LinkError::NotConnected))
}

impl StdHandle {
    /// Nobody can answer now: a callback on the network thread, or no network thread yet.
    fn queue_only(&self) -> bool {
        on_network() || !self.started.load(Ordering::Acquire)
    }

    /// Queues `command` for the network thread and wakes it; when nobody can answer now
    /// ([`Self::queue_only`]) the command must not wait: the queue has room, or it is an
    /// error.
    fn send(&self, command: Command) -> Result<(), StdError> {
        let sent = match self.queue_only() {
            true => self.commands.try_send(command).map_err(|e| match e {
                TrySendError::Full(_) => Error::Io(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the command queue is full, and nothing drains it now (a callback, or before spawn)",
                )),
                TrySendError::Disconnected(_) => Error::Link(LinkError::NotConnected),
            }),
            false => self
                .commands
                .send(command)
                .map_err(|_| Error::Link(LinkError::NotConnected)),
        };
        sent?;
        // A full wake-up socket already holds a wake-up: nothing is lost by skipping one.
        let _ = (&*self.wake).write(&[1]);
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
        let answered = match self.ended.load(Ordering::Acquire) {
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

    /// Waits for every QoS 1/2 message published so far to be acknowledged, then disconnects
    /// gracefully; the network thread ends (its `JoinHandle` returns). Not from a callback.
    pub fn disconnect(&self) -> Result<(), StdError> {
        if self.queue_only() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::WouldBlock,
                "disconnect from a callback (or before spawn) would wait for nobody",
            )));
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Command::Disconnect { reply })?;
        let answered = match self.ended.load(Ordering::Acquire) {
            true => answer.try_recv().ok(),
            false => answer.recv().ok(),
        };
        answered.unwrap_or_else(gone)
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

    /// Moves the client to a network thread of its own (paho's `loop_start`) and returns a
    /// handle for every other thread and the thread's `JoinHandle`. The thread runs the
    /// callbacks, reconnects and restores subscriptions as the client's calls do; it ends
    /// after [`StdHandle::disconnect`], when every handle is dropped, or on an error no
    /// reconnect can mend (a refusal, the backoff's last attempt), which `join` returns.
    pub fn spawn(mut self) -> io::Result<(StdHandle, JoinHandle<Result<(), StdError>>)> {
        let handle = self.handle()?;
        let Some(queue) = self.queue.take() else {
            return Err(io::ErrorKind::Other.into());
        };
        let Queue {
            inbox,
            woken,
            started,
            ended,
            ..
        } = queue;
        started.store(true, Ordering::Release);
        let network = std::thread::Builder::new()
            .name("umqtt-network".into())
            .spawn(move || {
                ON_NETWORK.with(|on| on.set(true));
                let result = self.network(&inbox, &woken);
                // Whatever waits in the queue now gets no answer: said at once, not never.
                ended.store(true, Ordering::Release);
                while inbox.try_recv().is_ok() {}
                result
            })?;
        Ok((handle, network))
    }

    /// The network thread: carry out the commands, hand out what arrived, then sleep until
    /// the socket, a handle or the keep-alive has something.
    fn network(mut self, inbox: &Receiver<Command>, woken: &UnixStream) -> Result<(), StdError> {
        loop {
            // At most a queue's worth of commands per round: reading is not starved.
            for _ in 0..COMMAND_QUEUE {
                match inbox.try_recv() {
                    Ok(Command::Disconnect { reply }) => {
                        let result = self.wait_published().and_then(|()| self.disconnect());
                        let _ = reply.send(result); // its error is the caller's to hear
                        return Ok(());
                    }
                    Ok(command) => self.carry_out(command),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        // Every handle is gone: nobody can ask for anything any more.
                        let _ = self.wait_published();
                        return self.disconnect();
                    }
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
                Err(e) => return Err(e),
            };
            if !more {
                self.sleep(woken)?;
            }
        }
    }

    /// Carries out one command and answers it.
    fn carry_out(&mut self, command: Command) {
        match command {
            Command::Publish {
                topic,
                payload,
                qos,
                retain,
                reply,
            } => {
                let result = self.publish(&topic, payload, qos, retain);
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Command::Subscribe { filter, qos, reply } => {
                let result = self.subscribe(&filter, qos);
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Command::Unsubscribe { filter, reply } => {
                let result = self.unsubscribe(&filter);
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Command::Disconnect { .. } => {}
        }
    }

    /// Sleeps in `poll(2)` until the socket is readable (or writable, when bytes wait), a
    /// handle wrote to the wake-up socket, or the core's next deadline; then drains the
    /// wake-ups.
    fn sleep(&mut self, woken: &UnixStream) -> Result<(), StdError> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let timeout = self.next_timeout_ms();
        let wants_write = self.client().wants_write();
        let link = self.link();
        let flags = match wants_write {
            true => PollFlags::IN | PollFlags::OUT,
            false => PollFlags::IN,
        };
        let timespec = timeout.map(|ms| Timespec {
            tv_sec: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
            tv_nsec: i64::try_from(ms % 1000 * 1_000_000).unwrap_or(0),
        });
        let polled = match link.socket() {
            Some(socket) => {
                let mut fds = [
                    PollFd::new(socket, flags),
                    PollFd::new(woken, PollFlags::IN),
                ];
                poll(&mut fds, timespec.as_ref())
            }
            None => {
                let mut fds = [PollFd::new(woken, PollFlags::IN)];
                poll(&mut fds, timespec.as_ref())
            }
        };
        match polled {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Error::Io(e.into())),
        }
        let mut drain = [0u8; 64];
        while matches!((&*woken).read(&mut drain), Ok(n) if n > 0) {}
        Ok(())
    }
}
