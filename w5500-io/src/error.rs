//! The W5500 adapter's error type.

use core::fmt;

/// What went wrong talking to the chip or on its TCP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum W5500Error<E> {
    /// The SPI bus failed.
    Spi(E),
    /// VERSIONR did not read 0x04: no W5500 on the bus, or the wiring is wrong.
    Version(u8),
    /// The soft reset did not finish within its bound.
    Reset,
    /// The PHY reported no link within the wait.
    LinkDown,
    /// The socket number is not 0–7, or the buffer size is not 0, 1, 2, 4, 8 or 16 KiB.
    InvalidArgument,
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// The connection attempt failed (refused, or the chip's own retransmission timeout).
    ConnectFailed,
    /// Reading found no data within the read timeout (the blocking driver's cue to service
    /// keep-alive; not a failure).
    ReadTimeout,
    /// The chip did not accept a SEND within the write timeout (the peer stopped
    /// acknowledging).
    WriteTimeout,
    /// A socket command was not accepted within its bound.
    CommandTimeout,
    /// The connection is closed (reset by the peer, timed out, or closed locally).
    Closed,
}

impl<E: fmt::Debug> fmt::Display for W5500Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            W5500Error::Spi(e) => write!(f, "SPI error: {e:?}"),
            W5500Error::Version(v) => write!(f, "VERSIONR is {v:#04x}, not 0x04: no W5500"),
            W5500Error::Reset => f.write_str("W5500 soft reset did not complete"),
            W5500Error::LinkDown => f.write_str("Ethernet link down"),
            W5500Error::InvalidArgument => f.write_str("invalid socket number or buffer size"),
            W5500Error::ConnectTimeout => f.write_str("TCP connect timed out"),
            W5500Error::ConnectFailed => f.write_str("TCP connect failed"),
            W5500Error::ReadTimeout => f.write_str("no data within the read timeout"),
            W5500Error::WriteTimeout => f.write_str("send not completed within the write timeout"),
            W5500Error::CommandTimeout => f.write_str("socket command not accepted"),
            W5500Error::Closed => f.write_str("connection closed"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for W5500Error<E> {}

impl<E: fmt::Debug> embedded_io::Error for W5500Error<E> {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind;
        match self {
            W5500Error::ReadTimeout | W5500Error::WriteTimeout | W5500Error::ConnectTimeout => {
                ErrorKind::TimedOut
            }
            W5500Error::ConnectFailed => ErrorKind::ConnectionRefused,
            W5500Error::Closed => ErrorKind::ConnectionReset,
            W5500Error::LinkDown => ErrorKind::NotConnected,
            W5500Error::InvalidArgument => ErrorKind::InvalidInput,
            _ => ErrorKind::Other,
        }
    }
}
