//! A std TCP transport for the blocking and non-blocking drivers.
//!
//! [`TcpTransport`] is a blocking socket with a read timeout (100 ms by default) so that the
//! blocking driver wakes up for keep-alive; the timeout reads as `ErrorKind::TimedOut`.
//! It also answers `ReadReady` / `WriteReady` exactly (by `poll(2)` on Unix), so the
//! non-blocking driver never blocks on it.

use std::io::{self, Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A connected TCP socket implementing `embedded_io::{Read, Write, ReadReady, WriteReady}`.
#[derive(Debug)]
pub struct TcpTransport {
    stream: TcpStream,
}

impl TcpTransport {
    /// Connects to `addr` with Nagle off and a 100 ms read timeout.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Self> {
        Self::from_stream(TcpStream::connect(addr)?)
    }

    /// Wraps a connected stream (Nagle off, 100 ms read timeout).
    pub fn from_stream(stream: TcpStream) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(TcpTransport { stream })
    }

    /// Changes the read timeout: how often a blocked read returns to service keep-alive.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Is the socket readable (or writable) right now, without blocking?
    #[cfg(unix)]
    fn ready(&self, write: bool) -> io::Result<bool> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let flags = if write { PollFlags::OUT } else { PollFlags::IN };
        let mut fds = [PollFd::new(&self.stream, flags)];
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let n = poll(&mut fds, Some(&zero)).map_err(io::Error::from)?;
        // Hang-up and errors count as ready: the next read or write reports them.
        Ok(n > 0 && !fds[0].revents().is_empty())
    }

    /// Is the socket readable (or writable) right now, without blocking?
    #[cfg(not(unix))]
    fn ready(&self, write: bool) -> io::Result<bool> {
        if write {
            return Ok(true);
        }
        self.stream.set_nonblocking(true)?;
        let r = self.stream.peek(&mut [0u8; 1]);
        self.stream.set_nonblocking(false)?;
        match r {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl embedded_io::ErrorType for TcpTransport {
    type Error = io::Error;
}

impl embedded_io::Read for TcpTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.stream.read(buf) {
            // A read timeout shows as WouldBlock on Unix: report it as TimedOut.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::ErrorKind::TimedOut.into()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(io::ErrorKind::TimedOut.into()),
            r => r,
        }
    }
}

impl embedded_io::Write for TcpTransport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl embedded_io::ReadReady for TcpTransport {
    fn read_ready(&mut self) -> io::Result<bool> {
        self.ready(false)
    }
}

impl embedded_io::WriteReady for TcpTransport {
    fn write_ready(&mut self) -> io::Result<bool> {
        self.ready(true)
    }
}
