//! The one error type of the client and its drivers, grouped by whose fault it is.

use core::convert::Infallible;
use core::fmt;

use crate::packet::{ConnectReturnCode, DecodeError, PacketId, PacketType, StrError};
use crate::topic::TopicError;

/// Everything that can go wrong, generic over the transport's error `E` (none for the sans-IO
/// core). Match one level deep to decide what to do, two to say what happened:
///
/// | variant | whose fault | the connection | what to do |
/// |---|---|---|---|
/// | [`Error::Caller`] | yours: a bad topic, option or size; your payload source or flash failing mid-way | still usable; closed after your source or flash failed | fix the call |
/// | [`Error::Broker`] | the broker's: a refusal or a protocol violation | closed | report it; reconnecting may not help |
/// | [`Error::Link`] | nobody's: the link is down or dead | closed | reconnect (the session is kept) |
/// | [`Error::Io`] | the transport's | closed | reconnect (the session is kept) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E = Infallible> {
    /// The caller's mistake; nothing was sent and the connection is still usable (but see
    /// [`Error::closes_connection`]).
    Caller(CallerError),
    /// The broker refused the connection or broke the protocol; the connection is closed.
    Broker(BrokerError),
    /// The link is down: not connected, closed by the broker, or dead (no answer in time).
    /// Reconnect; the session (unacknowledged messages) is kept.
    Link(LinkError),
    /// The transport failed; the connection is closed. Reconnect; the session is kept.
    Io(E),
}

/// A mistake of the caller: the operation did nothing — but for the failures of the
/// application's own side mid-way ([`CallerError::PayloadSource`],
/// [`CallerError::PayloadCancelled`], [`CallerError::SessionNotSaved`]), which close the
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CallerError {
    /// The connect options are invalid.
    Config(ConfigError),
    /// The topic name or filter is invalid.
    Topic(TopicError),
    /// The packet is larger than the tx buffer (or than MQTT allows) and can never be sent.
    PacketTooLarge {
        /// The encoded packet's size.
        size: usize,
        /// The tx buffer's size.
        capacity: usize,
    },
    /// A QoS 1/2 message is larger than the whole session store: it can never be kept.
    MessageTooLarge {
        /// What the message needs in the store.
        size: usize,
        /// The store's size.
        capacity: usize,
    },
    /// More than 65,535 filters in one SUBSCRIBE or UNSUBSCRIBE, or none.
    FilterCount,
    /// A string or password is longer than 65,535 bytes.
    FieldTooLong,
    /// A streamed payload's source failed or ended before the length announced: half a
    /// PUBLISH was sent, so the connection is closed.
    PayloadSource,
    /// An async `publish_from` was cancelled mid-payload: half a PUBLISH went out, so the
    /// connection was closed (reconnect; a QoS 1/2 message is reported
    /// [`crate::Lost::Streamed`] or dropped as for a failed source).
    PayloadCancelled,
    /// The application could not save the session ([`crate::client::Session::failed`]): the
    /// connection is closed, nothing that depended on the save was sent, and what was
    /// published, subscribed or unsubscribed since the last good save was dropped from the
    /// session — do it again once connected (the next connection saves first).
    SessionNotSaved,
}

/// What the broker did: a refusal or a protocol violation (the connection is closed,
/// MQTT-4.8.0-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BrokerError {
    /// CONNACK refused the connection with return code 1–5.
    Refused(ConnectReturnCode),
    /// The broker sent bytes that are not a valid packet.
    Malformed(DecodeError),
    /// The first packet was not CONNACK (MQTT-3.2.0-1), a second CONNACK, or a packet only a
    /// client sends.
    UnexpectedPacket(PacketType),
    /// An acknowledgement for a packet identifier with nothing outstanding of that kind.
    UnknownPacketId(PacketType, PacketId),
    /// A SUBACK whose number of return codes differs from the SUBSCRIBE's filters.
    SubackCountMismatch,
    /// An inbound packet larger than the rx buffer (MQTT-4.8.0-2): raise the buffer if the
    /// broker is right to send it.
    PacketTooLarge {
        /// The packet's size.
        size: usize,
        /// The rx buffer's size.
        capacity: usize,
    },
    /// The broker's QoS 2 messages awaiting PUBREL filled
    /// [`ConnectOptions::inbound_window`](crate::ConnectOptions::inbound_window) and the
    /// store's free bytes: the connection is closed rather than risk a duplicate delivery
    /// (MQTT-4.8.0-2); the broker sends it again. Raise the window to the broker's in-flight
    /// maximum, or the store.
    StoreFull,
}

/// Why the link is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LinkError {
    /// There is no connection: not connected yet, lost earlier, or disconnected.
    NotConnected,
    /// The transport reached end of stream: the broker (or the network) closed the connection.
    Closed,
    /// No CONNACK within the response timeout.
    ConnackTimeout,
    /// No PINGRESP within the response timeout after PINGREQ.
    PingTimeout,
}

impl<E> Error<E> {
    /// True when this error ended the connection: everything but a caller's mistake, and of
    /// those a streamed payload's source failing or cancelled mid-packet and a session save
    /// failing.
    pub fn closes_connection(&self) -> bool {
        !matches!(
            self,
            Error::Caller(e) if !matches!(
                e,
                CallerError::PayloadSource | CallerError::PayloadCancelled | CallerError::SessionNotSaved
            )
        )
    }
}

/// The errors of the std transports (TCP, TLS, tokio; feature `std`): their transport error is
/// `std::io::Error`.
#[cfg(feature = "std")]
pub type StdError = Error<std::io::Error>;

impl<E: embedded_io::Error> Error<E> {
    /// The same error with the transport's reduced to its kind: for log records, which need
    /// no more (and `defmt` can format).
    pub(crate) fn kind_only(&self) -> Error<embedded_io::ErrorKind> {
        match self {
            Error::Caller(e) => Error::Caller(*e),
            Error::Broker(e) => Error::Broker(*e),
            Error::Link(e) => Error::Link(*e),
            Error::Io(e) => Error::Io(e.kind()),
        }
    }
}

impl Error {
    /// The core's error as a driver's, whose transport error type is `E`.
    pub fn with_io<E>(self) -> Error<E> {
        match self {
            Error::Caller(e) => Error::Caller(e),
            Error::Broker(e) => Error::Broker(e),
            Error::Link(e) => Error::Link(e),
            Error::Io(never) => match never {},
        }
    }
}

impl<E> From<CallerError> for Error<E> {
    fn from(e: CallerError) -> Self {
        Error::Caller(e)
    }
}

impl<E> From<BrokerError> for Error<E> {
    fn from(e: BrokerError) -> Self {
        Error::Broker(e)
    }
}

impl<E> From<LinkError> for Error<E> {
    fn from(e: LinkError) -> Self {
        Error::Link(e)
    }
}

impl<E> From<TopicError> for Error<E> {
    fn from(e: TopicError) -> Self {
        Error::Caller(CallerError::Topic(e))
    }
}

impl<E> From<ConfigError> for Error<E> {
    fn from(e: ConfigError) -> Self {
        Error::Caller(CallerError::Config(e))
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Caller(e) => write!(f, "{e}"),
            Error::Broker(e) => write!(f, "{e}"),
            Error::Link(e) => write!(f, "{e}"),
            Error::Io(e) => write!(f, "the transport failed: {e}"),
        }
    }
}

impl fmt::Display for CallerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallerError::Config(e) => write!(f, "invalid connect options: {e}"),
            CallerError::Topic(e) => write!(f, "invalid topic: {e}"),
            CallerError::PacketTooLarge { size, capacity } => write!(
                f,
                "a {size}-byte packet does not fit the {capacity}-byte tx buffer"
            ),
            CallerError::MessageTooLarge { size, capacity } => write!(
                f,
                "a message needing {size} bytes does not fit the {capacity}-byte session store"
            ),
            CallerError::FilterCount => {
                f.write_str("a (un)subscribe needs between 1 and 65,535 filters")
            }
            CallerError::FieldTooLong => f.write_str("a field is longer than 65,535 bytes"),
            CallerError::PayloadSource => f.write_str(
                "the payload's source failed or ended early: the connection was closed mid-message",
            ),
            CallerError::PayloadCancelled => f.write_str(
                "a streamed publish was cancelled mid-payload: the connection was closed",
            ),
            CallerError::SessionNotSaved => f.write_str(
                "the session could not be saved: the connection was closed and the operations since the last save were not sent",
            ),
        }
    }
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerError::Refused(code) => write!(f, "the broker refused the connection: {code}"),
            BrokerError::Malformed(e) => write!(f, "the broker sent a malformed packet: {e}"),
            BrokerError::UnexpectedPacket(t) => write!(f, "the broker sent an unexpected {t:?}"),
            BrokerError::UnknownPacketId(t, id) => {
                write!(
                    f,
                    "the broker sent {t:?} for packet id {id}, which has nothing outstanding"
                )
            }
            BrokerError::SubackCountMismatch => {
                f.write_str("the broker's SUBACK has a different number of codes than filters")
            }
            BrokerError::PacketTooLarge { size, capacity } => write!(
                f,
                "the broker sent a {size}-byte packet, larger than the {capacity}-byte rx buffer"
            ),
            BrokerError::StoreFull => f.write_str(
                "the session store is full: cannot track one more inbound QoS 2 message",
            ),
        }
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkError::NotConnected => "not connected: the link is down, reconnect",
            LinkError::Closed => "the connection was closed by the broker or the network",
            LinkError::ConnackTimeout => "the broker did not answer CONNECT in time",
            LinkError::PingTimeout => "the broker did not answer PINGREQ in time: the link is dead",
        })
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for Error<E> {}
impl core::error::Error for CallerError {}
impl core::error::Error for BrokerError {}
impl core::error::Error for LinkError {}

/// A connect option the caller got wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    /// The client id, user name or will topic is not a valid MQTT string.
    InvalidString(StrError),
    /// The will topic is not a valid topic name.
    InvalidWillTopic(crate::topic::TopicError),
    /// A password or will payload longer than 65,535 bytes.
    FieldTooLong,
    /// An empty client id requires a clean session (MQTT-3.1.3-7).
    EmptyClientIdNeedsCleanSession,
    /// More than 65,535 resubscribe filters.
    TooManyFilters,
    /// `max_inflight(0)`: no QoS 1/2 message could ever be sent.
    NoInflight,
    /// The tx buffer cannot hold the CONNECT (with its will and credentials) or the
    /// resubscribe SUBSCRIBE.
    TxTooSmall {
        /// The size it needs.
        needed: usize,
    },
    /// The session store cannot hold the encoded CONNECT and resubscribe SUBSCRIBE it keeps
    /// for reconnects plus one entry.
    StoreTooSmall {
        /// The size it needs at least.
        needed: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidString(e) => write!(f, "invalid string: {e}"),
            ConfigError::InvalidWillTopic(e) => write!(f, "invalid will topic: {e}"),
            ConfigError::FieldTooLong => f.write_str("password or will payload over 65535 bytes"),
            ConfigError::EmptyClientIdNeedsCleanSession => {
                f.write_str("an empty client id requires clean_session = true (MQTT-3.1.3-7)")
            }
            ConfigError::TooManyFilters => f.write_str("more than 65,535 resubscribe filters"),
            ConfigError::NoInflight => {
                f.write_str("max_inflight is 0: no QoS 1/2 message could ever be sent")
            }
            ConfigError::TxTooSmall { needed } => write!(
                f,
                "the tx buffer must hold the {needed}-byte CONNECT or resubscribe packet"
            ),
            ConfigError::StoreTooSmall { needed } => write!(
                f,
                "the session store needs at least {needed} bytes (the CONNECT and resubscribe \
                 packets it keeps, plus one entry)"
            ),
        }
    }
}

impl core::error::Error for ConfigError {}
