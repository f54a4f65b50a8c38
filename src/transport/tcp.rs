//! A std TCP transport for the blocking and non-blocking drivers.
//!
//! [`TcpTransport`] is a blocking socket with a read timeout (100 ms by default) so that the
//! blocking driver wakes up for keep-alive; the timeout reads as `ErrorKind::TimedOut`. Its
//! writes time out too ([`WRITE_TIMEOUT`] by default): a broker that takes no byte for that
//! long (its TCP window closed) ends the connection with `ErrorKind::TimedOut` instead of
//! blocking the program for good.
//! It also answers `ReadReady` / `WriteReady` exactly (by `poll(2)` on Unix), so the
//! non-blocking driver never blocks on it. [`TcpTransport::close`] ends a connection after
//! DISCONNECT without a TCP reset ([`close_gracefully`]); dropped, it does the same when its
//! last write was a DISCONNECT, and otherwise does not wait for the broker.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long a write may wait for the broker to take a byte before the connection counts as
/// dead: past the keep-alive a client would declare it dead anyway.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long closing a connection after DISCONNECT waits at most for the broker to close its
/// side.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Ends our side of `stream` without a TCP reset: shuts down writing (the broker gets
/// everything written, then the end), then reads and drops what the broker still sends
/// (PUBACKs of the last messages) until it closes its side — for at most [`CLOSE_TIMEOUT`]
/// with `wait`, else only what has arrived. A socket closed with received bytes unread
/// sends a reset instead, and a broker that gets a reset drops what it had not read yet:
/// the last PUBLISHes and the DISCONNECT (its will then fires). After a DISCONNECT, wait
/// (the managed clients do; so do [`TcpTransport::close`] and a `TcpTransport` dropped right
/// after one); on a link given up for dead, do not.
pub fn close_gracefully(stream: &TcpStream, wait: bool) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return; // not connected any more: nothing to hand over
    }
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    if !wait && stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut scratch = [0u8; 256];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match (&*stream).read(&mut scratch) {
            Ok(0) | Err(_) => return, // the broker's end (or its reset, or nothing more now)
            Ok(_) => {}
        }
    }
}

/// A TCP socket implementing `embedded_io::{Read, Write, ReadReady, WriteReady}`: connected,
/// or [`TcpTransport::disconnected`] until a driver's `reconnect` opens one. Dropped, it ends
/// the connection without a reset ([`close_gracefully`]), waiting for the broker's end when
/// the last bytes written were a DISCONNECT (as [`TcpTransport::close`] does), else only
/// reading what has arrived.
#[derive(Debug)]
pub struct TcpTransport {
    stream: Option<TcpStream>,
    /// The last write ended with a DISCONNECT packet (`E0 00`): the broker closes next.
    disconnected: bool,
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        if let Some(stream) = &self.stream {
            close_gracefully(stream, self.disconnected);
        }
    }
}

impl TcpTransport {
    /// Connects to `addr` with Nagle off, a 100 ms read timeout and the [`WRITE_TIMEOUT`].
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Self> {
        Self::from_stream(TcpStream::connect(addr)?)
    }

    /// Wraps a connected stream (Nagle off, 100 ms read timeout, the [`WRITE_TIMEOUT`]).
    pub fn from_stream(stream: TcpStream) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        Ok(TcpTransport {
            stream: Some(stream),
            disconnected: false,
        })
    }

    /// No socket yet: every read and write fails with `NotConnected`. Give it to a driver
    /// whose `reconnect` makes the first connection (retrying while the broker is down).
    pub fn disconnected() -> Self {
        TcpTransport {
            stream: None,
            disconnected: false,
        }
    }

    /// Changes the read timeout: how often a blocked read returns to service keep-alive.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.socket()?.set_read_timeout(Some(timeout))
    }

    /// Changes the write timeout: how long a write waits for the broker to take a byte
    /// before the connection ends with `ErrorKind::TimedOut`.
    pub fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.socket()?.set_write_timeout(Some(timeout))
    }

    /// The socket, if connected.
    pub fn stream(&self) -> Option<&TcpStream> {
        self.stream.as_ref()
    }

    /// Ends the connection once the driver's `disconnect` returned: everything written
    /// reaches the broker, whose answers are read and dropped until it closes its side
    /// ([`close_gracefully`], at most [`CLOSE_TIMEOUT`]). Then it is disconnected.
    pub fn close(&mut self) {
        if let Some(stream) = self.stream.take() {
            close_gracefully(&stream, true);
        }
    }

    fn socket(&self) -> io::Result<&TcpStream> {
        self.stream
            .as_ref()
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

/// Is `stream` readable (or writable) right now, without blocking? (Also for the TLS
/// transport over it.)
#[cfg(unix)]
pub(crate) fn ready(stream: &TcpStream, write: bool) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let flags = if write { PollFlags::OUT } else { PollFlags::IN };
    let mut fds = [PollFd::new(stream, flags)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let n = poll(&mut fds, Some(&zero)).map_err(io::Error::from)?;
    // Hang-up and errors count as ready: the next read or write reports them.
    Ok(n > 0 && fds.first().is_some_and(|fd| !fd.revents().is_empty()))
}

/// Is `stream` readable (or writable) right now, without blocking?
#[cfg(not(unix))]
pub(crate) fn ready(stream: &TcpStream, write: bool) -> io::Result<bool> {
    if write {
        return Ok(true);
    }
    stream.set_nonblocking(true)?;
    let r = stream.peek(&mut [0u8; 1]);
    stream.set_nonblocking(false)?;
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

impl embedded_io::ErrorType for TcpTransport {
    type Error = io::Error;
}

impl embedded_io::Read for TcpTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.socket()?.read(buf) {
            // A read timeout shows as WouldBlock on Unix: report it as TimedOut.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::ErrorKind::TimedOut.into()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(io::ErrorKind::TimedOut.into()),
            r => r,
        }
    }
}

impl embedded_io::Write for TcpTransport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = match self.socket()?.write(buf) {
            // A write timeout shows as WouldBlock on Unix: the broker took nothing in time.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::ErrorKind::TimedOut.into()),
            r => r,
        };
        if let Ok(n) = written {
            self.disconnected = buf.get(..n).is_some_and(|b| b.ends_with(&[0xE0, 0x00]));
        }
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket()?.flush()
    }
}

impl embedded_io::ReadReady for TcpTransport {
    fn read_ready(&mut self) -> io::Result<bool> {
        ready(self.socket()?, false)
    }
}

impl embedded_io::WriteReady for TcpTransport {
    fn write_ready(&mut self) -> io::Result<bool> {
        ready(self.socket()?, true)
    }
}
