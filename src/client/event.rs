//! What the client core reports to the application.

use crate::packet::{PacketId, Publish, QoS, SubackCodes};
use crate::topic::TopicName;

use super::session::Session;

/// Something that happened on the connection. Borrowed data (a message's topic and payload,
/// SUBACK codes) lives in the client's buffers until the next call into the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event<'a> {
    /// CONNACK accepted the connection.
    Connected {
        /// The broker resumed the stored session.
        session_present: bool,
    },
    /// An application message arrived. Its acknowledgement (PUBACK / PUBREC) is queued before
    /// the event is handed out and goes out with the driver's next write: the drivers write
    /// the acknowledgements of what one read brought together, once its bytes are used up
    /// and before reading again. A connection cut before that write leaves at most the
    /// messages of that one read handed out and unacknowledged; the broker sends them again
    /// (QoS 1: duplicates; QoS 2 with a kept session: recognised and not handed out twice).
    Message(Publish<'a>),
    /// A piece of a message too large for rx, with
    /// [`ConnectOptions::stream_oversized`](crate::ConnectOptions::stream_oversized). The
    /// pieces come in order; the message is complete with the one that
    /// [`Chunk::is_last`]. A piece at offset 0 after earlier pieces of a message that never
    /// completed (the connection was lost) starts its redelivery: drop what you kept.
    Chunk(Chunk<'a>),
    /// A QoS 1 message was acknowledged (PUBACK) or a QoS 2 message completed (PUBCOMP).
    Published {
        /// The identifier [`crate::client::Client::publish`] returned.
        pid: PacketId,
        /// The message's QoS.
        qos: QoS,
    },
    /// A SUBACK answered a SUBSCRIBE: one code per filter, in order (0x80 = refused).
    Subscribed {
        /// The identifier [`crate::client::Client::subscribe`] returned.
        pid: PacketId,
        /// The granted QoS or failure, per filter.
        codes: SubackCodes<'a>,
    },
    /// An UNSUBACK answered an UNSUBSCRIBE.
    Unsubscribed {
        /// The identifier [`crate::client::Client::unsubscribe`] returned.
        pid: PacketId,
    },
    /// Delivery of this request can no longer be guaranteed: a message or release because the
    /// session was not resumed (session_present = 0, or a clean session); a SUBSCRIBE or
    /// UNSUBSCRIBE never answered after any reconnect (a broker does not answer it on the
    /// next connection). The application decides what to do (for example publish the message
    /// or subscribe again).
    Lost(Lost<'a>),
    /// The DISCONNECT was written; the connection is finished.
    Disconnected,
    /// The session changed ([`ConnectOptions::persist_session`](crate::ConnectOptions), feature
    /// `persistence`): save it now — nothing that depends on the change is written before the
    /// next call. Write [`Session::write_snapshot`] (with your own state) to flash.
    SaveSession(Session<'a>),
}

/// A piece of a streamed message: see [`Event::Chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Chunk<'a> {
    /// The message's topic.
    pub topic: TopicName<'a>,
    /// Its QoS.
    pub qos: QoS,
    /// Retained (sent because of a new subscription).
    pub retain: bool,
    /// The broker marked it a redelivery (DUP).
    pub dup: bool,
    /// Where these bytes start in the payload.
    pub offset: usize,
    /// The whole payload's length.
    pub total: usize,
    /// These bytes of the payload.
    pub data: &'a [u8],
}

impl Chunk<'_> {
    /// True for the message's last piece: the message is complete (and acknowledged next).
    pub fn is_last(&self) -> bool {
        self.offset.saturating_add(self.data.len()) == self.total
    }
}

/// A request whose outcome is unknown because the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Lost<'a> {
    /// A QoS 1/2 message not yet acknowledged (PUBACK / PUBREC): here it is, to resend.
    Message {
        /// Its old packet identifier.
        pid: PacketId,
        /// The message, borrowed from the session store.
        message: Publish<'a>,
    },
    /// A QoS 2 message the broker had received (PUBREC) but not completed (PUBCOMP): it may
    /// or may not have been delivered onward.
    Released {
        /// Its old packet identifier.
        pid: PacketId,
    },
    /// A SUBSCRIBE never answered.
    Subscribe {
        /// Its packet identifier.
        pid: PacketId,
    },
    /// An UNSUBSCRIBE never answered.
    Unsubscribe {
        /// Its packet identifier.
        pid: PacketId,
    },
    /// A streamed QoS 1/2 message (`publish_from`) not yet acknowledged (PUBACK / PUBREC):
    /// its payload was never kept, so it cannot be resent. Publish it again from its source.
    Streamed {
        /// Its packet identifier.
        pid: PacketId,
    },
}

#[cfg(feature = "std")]
impl Event<'_> {
    /// An owned copy (feature `std`): it outlives the client's buffers and crosses threads
    /// and tasks — what the tokio event loop returns.
    #[must_use]
    pub fn to_owned(self) -> crate::managed::owned::OwnedEvent {
        crate::managed::owned::OwnedEvent::from(self)
    }
}
