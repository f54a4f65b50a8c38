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

/// Records one transport write in the core: `n` bytes went out at `now()`; 0 bytes or an error
/// end the connection.
pub(crate) fn after_write<E>(
    client: &mut Client<'_>,
    now: impl FnOnce() -> u64,
    written: Result<usize, E>,
) -> Result<(), DriverError<E>> {
    match written {
        Ok(0) => Err(lost(client, DriverError::Closed)),
        Ok(n) => {
            client.transmitted(n, now());
            Ok(())
        }
        Err(e) => Err(lost(client, DriverError::Io(e))),
    }
}

/// Records one transport read in the core; `Ok(false)` when the read only timed out (no data
/// within the transport's read timeout). End of stream or an error end the connection.
pub(crate) fn after_read<E: embedded_io::Error>(
    client: &mut Client<'_>,
    read: Result<usize, E>,
) -> Result<bool, DriverError<E>> {
    match read {
        Ok(0) => Err(lost(client, DriverError::Closed)),
        Ok(n) => {
            client.received(n);
            Ok(true)
        }
        Err(e) if e.kind() == embedded_io::ErrorKind::TimedOut => Ok(false),
        Err(e) => Err(lost(client, DriverError::Io(e))),
    }
}
