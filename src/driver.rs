//! What the three drivers share: their error type and the steps that move bytes between a
//! transport and the [`Client`] core. No protocol rule lives here.

use core::fmt;

use crate::client::{Client, Error};

/// A driver error: the client core's, or the transport's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverError<E> {
    /// From the client core (caller mistake, broker refusal or violation, timeout).
    Client(Error),
    /// The transport failed; the connection is over (the session is kept).
    Io(E),
    /// The transport reached end of stream: the broker closed the connection.
    Closed,
}

impl<E> From<Error> for DriverError<E> {
    fn from(e: Error) -> Self {
        DriverError::Client(e)
    }
}

impl<E: fmt::Debug> fmt::Display for DriverError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Client(e) => write!(f, "{e}"),
            DriverError::Io(e) => write!(f, "transport error: {e:?}"),
            DriverError::Closed => f.write_str("connection closed by the broker"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for DriverError<E> {}

/// Records a transport failure or end of stream in the core and converts it.
pub(crate) fn lost<E>(client: &mut Client<'_>, e: DriverError<E>) -> DriverError<E> {
    if !matches!(e, DriverError::Client(ref c) if !c.closes_connection()) {
        client.connection_lost();
    }
    e
}

/// True for a read error that only means "no data within the transport's read timeout".
pub(crate) fn is_timeout(kind: embedded_io::ErrorKind) -> bool {
    matches!(kind, embedded_io::ErrorKind::TimedOut)
}
