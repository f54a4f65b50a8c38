//! The plumbing between the handles and the network thread: the bounded command queue, the
//! wake-up socket the handles write to, and the commands themselves.

use std::io::{self, Read as _};
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::string::String;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, Instant};
use std::vec::Vec;

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::StdHandle;
use crate::{Error, PacketId, QoS, StdError};
pub(super) type Reply<T> = SyncSender<Result<T, StdError>>;

/// How many commands wait for the network thread at most; a handle's call waits for room
/// beyond that.
pub const COMMAND_QUEUE: usize = 64;

/// The queue between the handles and the network thread, made by the first
/// [`StdClient::handle`](super::StdClient::handle) (or
/// [`StdClient::spawn`](super::StdClient::spawn)).
pub(crate) struct Queue {
    pub(super) ends: Ends,
    pub(super) inbox: Receiver<Command>,
    pub(super) woken: UnixStream,
}

/// What every handle holds: the queue's sending end, the wake-up socket and the flags the
/// handles and the network thread share.
#[derive(Clone)]
pub(super) struct Ends {
    pub(super) commands: SyncSender<Command>,
    pub(super) wake: Arc<UnixStream>,
    /// The network thread runs: a call may wait for it.
    pub(super) started: Arc<AtomicBool>,
    /// The network thread has ended (or is ending): nobody will answer.
    pub(super) ended: Arc<AtomicBool>,
    /// Set by `disconnect` and by the last handle's drop: the network thread stops
    /// reconnecting.
    pub(super) stopping: Arc<AtomicBool>,
    /// How many handles there are.
    pub(super) handles: Arc<AtomicUsize>,
}

impl Ends {
    /// One more handle.
    pub(super) fn handle(&self) -> StdHandle {
        self.handles.fetch_add(1, Ordering::AcqRel);
        StdHandle { ends: self.clone() }
    }
}

impl Queue {
    pub(crate) fn new() -> io::Result<Queue> {
        let (wake, woken) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        woken.set_nonblocking(true)?;
        let (commands, inbox) = mpsc::sync_channel(COMMAND_QUEUE);
        Ok(Queue {
            ends: Ends {
                commands,
                wake: Arc::new(wake),
                started: Arc::default(),
                ended: Arc::default(),
                stopping: Arc::default(),
                handles: Arc::default(),
            },
            inbox,
            woken,
        })
    }

    pub(super) fn handle(&self) -> StdHandle {
        self.ends.handle()
    }
}

/// The network thread's side of the wake-up socket, and the flag a handle sets to end it.
pub(crate) struct Wakeup {
    pub(super) woken: UnixStream,
    pub(super) stopping: Arc<AtomicBool>,
}

impl Wakeup {
    /// A handle asked the network thread to end ([`StdHandle::disconnect`], or the last
    /// handle dropped).
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Waits `ms`, or until a handle asks the thread to end.
    pub(crate) fn wait(&self, ms: u32) {
        let deadline = Instant::now() + Duration::from_millis(u64::from(ms));
        while !self.stopping() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let left_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
            if self.sleep(None, Some(left_ms.max(1))).is_err() {
                std::thread::sleep(left); // poll(2) refused: sleep out the rest
            }
        }
    }

    /// Sleeps in `poll(2)` until `socket` has what `flags` ask for, a handle wrote to the
    /// wake-up socket, or `timeout_ms`; then drains the wake-ups.
    pub(super) fn sleep(
        &self,
        socket: Option<(BorrowedFd<'_>, PollFlags)>,
        timeout_ms: Option<u64>,
    ) -> Result<(), StdError> {
        let timespec = timeout_ms.map(|ms| Timespec {
            tv_sec: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
            tv_nsec: i64::try_from(ms % 1000 * 1_000_000).unwrap_or(0),
        });
        let polled = match socket {
            Some((socket, flags)) => {
                let mut fds = [
                    PollFd::new(&socket, flags),
                    PollFd::new(&self.woken, PollFlags::IN),
                ];
                poll(&mut fds, timespec.as_ref())
            }
            None => {
                let mut fds = [PollFd::new(&self.woken, PollFlags::IN)];
                poll(&mut fds, timespec.as_ref())
            }
        };
        match polled {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Error::Io(e.into())),
        }
        let mut drain = [0u8; 64];
        while matches!((&self.woken).read(&mut drain), Ok(n) if n > 0) {}
        Ok(())
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
