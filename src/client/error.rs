//! Client errors, split by whose fault they are.

use core::fmt;

use super::ConfigError;
use crate::packet::{ConnectReturnCode, DecodeError, EncodeError, PacketId, PacketType};
use crate::topic::TopicError;

/// What the broker did wrong. The connection is closed (MQTT-4.8.0-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The broker sent bytes that are not a valid packet.
    Malformed(DecodeError),
    /// The first packet from the broker was not CONNACK (MQTT-3.2.0-1), or the broker sent a
    /// packet only a client sends (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT), or
    /// a second CONNACK.
    UnexpectedPacket(PacketType),
    /// An acknowledgement for a packet identifier that has nothing outstanding of that kind.
    UnknownPacketId(PacketType, PacketId),
    /// A SUBACK whose number of return codes differs from the SUBSCRIBE's filters.
    SubackCountMismatch,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Malformed(e) => write!(f, "malformed packet: {e}"),
            ProtocolError::UnexpectedPacket(t) => write!(f, "unexpected {t:?} from the broker"),
            ProtocolError::UnknownPacketId(t, id) => write!(f, "{t:?} for unknown packet id {id}"),
            ProtocolError::SubackCountMismatch => {
                f.write_str("SUBACK code count differs from the filters")
            }
        }
    }
}

/// Everything the client core can report. Errors from the peer or the link close the
/// connection; the session (unacknowledged messages) is kept for the next connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The caller's options are invalid.
    Config(ConfigError),
    /// The caller's topic name or filter is invalid.
    Topic(TopicError),
    /// The caller's packet cannot be encoded (e.g. larger than the tx buffer).
    Encode(EncodeError),
    /// A QoS 1/2 message or request does not fit in the session store (or the in-flight limit
    /// is reached) until acknowledgements arrive, or the tx buffer is full until it is
    /// written: drive the connection, then try again.
    Busy,
    /// A QoS 1/2 message is larger than the whole session store: it can never be sent.
    MessageTooLarge,
    /// There is no connection to use (not connected yet, closed, or disconnecting).
    NotConnected,
    /// The broker refused the connection with CONNACK return code 1–5.
    Refused(ConnectReturnCode),
    /// The broker violated the protocol; the connection is closed.
    Protocol(ProtocolError),
    /// An inbound packet is larger than the rx buffer (MQTT-4.8.0-2); the connection is closed.
    PacketTooLarge {
        /// The packet's size.
        size: usize,
        /// The rx buffer's size.
        capacity: usize,
    },
    /// The session store cannot track one more inbound QoS 2 message; the connection is closed
    /// (MQTT-4.8.0-2) rather than risk a duplicate delivery.
    StoreFull,
    /// No CONNACK within the response timeout: the link is dead.
    ConnackTimeout,
    /// No PINGRESP within the response timeout after PINGREQ: the link is dead.
    PingTimeout,
}

impl Error {
    /// True when the connection was closed by this error (as opposed to a caller mistake that
    /// left it usable).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            Error::Refused(_)
                | Error::Protocol(_)
                | Error::PacketTooLarge { .. }
                | Error::StoreFull
                | Error::ConnackTimeout
                | Error::PingTimeout
        )
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<TopicError> for Error {
    fn from(e: TopicError) -> Self {
        Error::Topic(e)
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "invalid options: {e}"),
            Error::Topic(e) => write!(f, "invalid topic: {e}"),
            Error::Encode(e) => write!(f, "cannot encode: {e}"),
            Error::Busy => f.write_str("busy: drive the connection and retry"),
            Error::MessageTooLarge => f.write_str("message larger than the session store"),
            Error::NotConnected => f.write_str("not connected"),
            Error::Refused(code) => write!(f, "connection refused: {code}"),
            Error::Protocol(e) => write!(f, "protocol violation by the broker: {e}"),
            Error::PacketTooLarge { size, capacity } => {
                write!(
                    f,
                    "inbound packet of {size} bytes exceeds the {capacity}-byte rx buffer"
                )
            }
            Error::StoreFull => f.write_str("session store full: cannot track inbound QoS 2"),
            Error::ConnackTimeout => f.write_str("no CONNACK within the response timeout"),
            Error::PingTimeout => f.write_str("no PINGRESP within the response timeout"),
        }
    }
}

impl core::error::Error for Error {}
