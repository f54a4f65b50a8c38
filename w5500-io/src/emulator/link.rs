//! The emulator's bridge from a chip socket to a real TCP socket: a connect thread, a
//! reader thread feeding a bounded inbox (a full inbox stops reading, so TCP flow control
//! pushes back on the peer: bytes are never dropped), and a writer thread for SENDs.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::Duration;
use std::vec::Vec;

/// Bytes read from the network and not yet in the chip's RX buffer, at most.
const INBOX: usize = 4 * 1024;

#[derive(Default)]
struct Inbox {
    bytes: VecDeque<u8>,
    /// The peer sent FIN (or the socket failed: `reset`).
    eof: bool,
    reset: bool,
    /// The chip closed the socket: the reader stops.
    closed: bool,
}

type Shared = Arc<(Mutex<Inbox>, Condvar)>;

/// What a connect attempt came to.
pub(super) enum Connecting {
    /// Still trying.
    Pending,
    /// Connected.
    Up(Link),
    /// Refused or unreachable.
    Failed,
}

/// A connect in progress.
pub(super) struct Dialer(Receiver<Option<TcpStream>>);

impl Dialer {
    /// Starts connecting to `addr`; gives up after `timeout` (the chip's RTR × RCR).
    pub(super) fn start(addr: SocketAddr, timeout: Duration, black_hole: bool) -> Dialer {
        let (tx, rx) = channel();
        thread::spawn(move || {
            if black_hole {
                // The SYN is never answered: the chip times out.
                thread::sleep(timeout);
                let _ = tx.send(None);
                return;
            }
            let _ = tx.send(TcpStream::connect_timeout(&addr, timeout).ok());
        });
        Dialer(rx)
    }

    /// Has the attempt finished?
    pub(super) fn poll(&self) -> Connecting {
        match self.0.try_recv() {
            Err(TryRecvError::Empty) => Connecting::Pending,
            Ok(Some(stream)) => match Link::start(stream) {
                Some(link) => Connecting::Up(link),
                None => Connecting::Failed,
            },
            Ok(None) | Err(TryRecvError::Disconnected) => Connecting::Failed,
        }
    }
}

/// An established connection.
pub(super) struct Link {
    stream: TcpStream,
    inbox: Shared,
    sends: Sender<Option<Vec<u8>>>,
    /// SENDs written out so far, and whether writing failed.
    sent: Arc<Mutex<(u64, bool)>>,
}

impl Link {
    fn start(stream: TcpStream) -> Option<Link> {
        stream.set_nodelay(true).ok()?;
        let inbox: Shared = Arc::default();
        let (reader, writer) = (stream.try_clone().ok()?, stream.try_clone().ok()?);
        let inbox2 = inbox.clone();
        thread::spawn(move || read_loop(reader, &inbox2));
        let (sends, queue) = channel::<Option<Vec<u8>>>();
        let sent = Arc::new(Mutex::new((0u64, false)));
        let sent2 = sent.clone();
        thread::spawn(move || write_loop(writer, &queue, &sent2));
        Some(Link {
            stream,
            inbox,
            sends,
            sent,
        })
    }

    /// Moves up to `max` received bytes out through `put`; returns (bytes moved, bytes are
    /// left waiting, the inbox is drained and the peer sent FIN, the connection was reset).
    pub(super) fn receive(&self, max: usize, mut put: impl FnMut(u8)) -> (usize, bool, bool, bool) {
        let (lock, cond) = &*self.inbox;
        let mut inbox = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let n = max.min(inbox.bytes.len());
        for b in inbox.bytes.drain(..n) {
            put(b);
        }
        if n > 0 {
            cond.notify_all();
        }
        let left = !inbox.bytes.is_empty();
        (n, left, inbox.eof && !left, inbox.reset)
    }

    /// Queues one SEND's bytes for the writer thread.
    pub(super) fn send(&self, bytes: Vec<u8>) {
        let _ = self.sends.send(Some(bytes));
    }

    /// How many SENDs are written out, and whether writing failed.
    pub(super) fn sent(&self) -> (u64, bool) {
        *self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends FIN once the SENDs queued before it are written.
    pub(super) fn shutdown_write(&self) {
        let _ = self.sends.send(None);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        // Wake a reader blocked on a full inbox so it sees the closed socket and ends.
        let (lock, cond) = &*self.inbox;
        let mut inbox = lock.lock().unwrap_or_else(PoisonError::into_inner);
        inbox.closed = true;
        inbox.bytes.clear();
        cond.notify_all();
    }
}

fn read_loop(mut stream: TcpStream, inbox: &Shared) {
    let (lock, cond) = &**inbox;
    let mut buf = [0u8; 2048];
    loop {
        // Read only what fits: a full inbox is the back-pressure.
        let room = {
            let mut inbox = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while inbox.bytes.len() >= INBOX && !inbox.closed {
                inbox = cond.wait(inbox).unwrap_or_else(PoisonError::into_inner);
            }
            if inbox.closed {
                return;
            }
            INBOX - inbox.bytes.len()
        };
        let want = room.min(buf.len());
        let result = stream.read(buf.get_mut(..want).unwrap_or_default());
        let mut inbox = lock.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(0) => {
                inbox.eof = true;
                return;
            }
            Ok(n) => inbox.bytes.extend(buf.iter().take(n)),
            Err(_) => {
                inbox.eof = true;
                inbox.reset = true;
                return;
            }
        }
    }
}

/// Writes each SEND's bytes in order; `None` is the FIN, after everything sent before it (as
/// the chip sends its TX buffer before the FIN of a DISCON).
fn write_loop(mut stream: TcpStream, queue: &Receiver<Option<Vec<u8>>>, sent: &Mutex<(u64, bool)>) {
    for bytes in queue {
        let Some(bytes) = bytes else {
            let _ = stream.shutdown(Shutdown::Write);
            return;
        };
        let ok = stream.write_all(&bytes).is_ok();
        let mut sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
        sent.0 += 1;
        if !ok {
            sent.1 = true;
            return;
        }
    }
}
