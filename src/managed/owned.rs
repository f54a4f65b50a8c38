//! Owned copies of events and messages (feature `std`): they outlive the client's buffers and
//! cross threads and tasks. The tokio event loop returns them; the std client republishes
//! lost messages from them.

use std::string::String;
use std::vec::Vec;

use crate::client::Lost;
use crate::{Event, PacketId, QoS, SubackCode};

/// A message, owned (it can cross tasks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic name.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// The QoS it was delivered (or published) at.
    pub qos: QoS,
    /// Retained (inbound), or to be retained (a lost message of ours).
    pub retain: bool,
    /// The broker's redelivery flag (inbound); false for a message of ours.
    pub dup: bool,
}

/// An [`Event`], owned ([`Event::to_owned`]): what the tokio event loop's `poll` returns.
/// Each variant carries what the borrowed event's does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedEvent {
    /// Connected (after every reconnect, too).
    Connected {
        /// The broker resumed the session.
        session_present: bool,
    },
    /// A message arrived.
    Message(Message),
    /// A piece of a message too large for rx (`ConnectOptions::stream_oversized`; see
    /// [`Event::Chunk`]).
    Chunk {
        /// The message's topic.
        topic: String,
        /// Its QoS.
        qos: QoS,
        /// The message is retained.
        retain: bool,
        /// The broker's redelivery flag.
        dup: bool,
        /// Where `data` starts in the payload.
        offset: usize,
        /// The whole payload's length.
        total: usize,
        /// These bytes of the payload.
        data: Vec<u8>,
    },
    /// A QoS 1/2 message of ours completed.
    Published {
        /// The id the publish returned.
        pid: PacketId,
        /// Its QoS.
        qos: QoS,
    },
    /// A SUBACK: one code per filter.
    Subscribed {
        /// The SUBSCRIBE's packet identifier.
        pid: PacketId,
        /// Granted QoS or failure, per filter.
        codes: Vec<SubackCode>,
    },
    /// An UNSUBACK.
    Unsubscribed {
        /// The UNSUBSCRIBE's packet identifier.
        pid: PacketId,
    },
    /// A message whose delivery is no longer guaranteed because the broker did not resume the
    /// session (to publish again if you wish). The event loop sends unanswered
    /// (un)subscribes again itself; those are not reported.
    Lost {
        /// Its old packet identifier.
        pid: PacketId,
        /// The message: a PUBLISH not yet acknowledged, or a QoS 2 message the broker had
        /// received (PUBREC) but a new session dropped. `None` for a SUBSCRIBE or UNSUBSCRIBE.
        message: Option<Message>,
    },
    /// The session changed (`ConnectOptions::persist_session`): its snapshot, without
    /// application bytes.
    SaveSession {
        /// [`crate::client::Session::write_snapshot`]'s bytes.
        snapshot: Vec<u8>,
    },
    /// The disconnect finished: the client is done (the tokio event loop's `poll` returns
    /// `NotConnected` from now on).
    Disconnected,
}

impl From<&crate::Publish<'_>> for Message {
    fn from(m: &crate::Publish<'_>) -> Self {
        Message {
            topic: m.topic.as_str().into(),
            payload: m.payload.to_vec(),
            qos: m.qos(),
            retain: m.retain,
            dup: m.dup,
        }
    }
}

impl From<Event<'_>> for OwnedEvent {
    fn from(e: Event<'_>) -> Self {
        let message = Message::from;
        match e {
            Event::Connected { session_present } => OwnedEvent::Connected { session_present },
            Event::Message(m) => OwnedEvent::Message(message(&m)),
            Event::Chunk(c) => OwnedEvent::Chunk {
                topic: c.topic.as_str().into(),
                qos: c.qos,
                retain: c.retain,
                dup: c.dup,
                offset: c.offset,
                total: c.total,
                data: c.data.to_vec(),
            },
            Event::Published { pid, qos } => OwnedEvent::Published { pid, qos },
            Event::Subscribed { pid, codes } => OwnedEvent::Subscribed {
                pid,
                codes: codes.iter().collect(),
            },
            Event::Unsubscribed { pid } => OwnedEvent::Unsubscribed { pid },
            Event::Lost(Lost::Message { pid, message: m }) => OwnedEvent::Lost {
                pid,
                message: Some(message(&m)),
            },
            Event::Lost(
                Lost::Released { pid }
                | Lost::Subscribe { pid }
                | Lost::Unsubscribe { pid }
                | Lost::Streamed { pid },
            ) => OwnedEvent::Lost { pid, message: None },
            Event::Disconnected => OwnedEvent::Disconnected,
            Event::SaveSession(session) => {
                let mut snapshot = std::vec![0; session.snapshot_len(0)];
                let n = session.write_snapshot(&[], &mut snapshot).unwrap_or(0);
                snapshot.truncate(n);
                OwnedEvent::SaveSession { snapshot }
            }
        }
    }
}

/// A copy of each QoS 2 message of ours until its PUBCOMP. After PUBREC the session keeps only
/// the id, and a broker that releases on PUBREL (mosquitto) drops the message with a session
/// it does not resume: the copy lets a reconnecting client publish it again.
#[derive(Debug, Default)]
pub(crate) struct ExactlyOnce(Vec<(PacketId, Message)>);

impl ExactlyOnce {
    /// Keeps a copy of QoS 2 message `pid`.
    pub(crate) fn keep(&mut self, pid: PacketId, message: Message) {
        self.0.push((pid, message));
    }

    /// Message `pid` completed or was reported lost with its content: the copy goes; `Some`
    /// when there was one.
    pub(crate) fn take(&mut self, pid: PacketId) -> Option<Message> {
        let i = self.0.iter().position(|(p, _)| *p == pid)?;
        Some(self.0.swap_remove(i).1)
    }

    /// What the managed clients publish again after `Lost { pid, message }`: the message the
    /// core reported, or for a QoS 2 one it had past PUBREC (reported without content) our
    /// copy; `None` for a lost (un)subscribe. The copy goes either way.
    pub(crate) fn lost(&mut self, pid: PacketId, message: Option<Message>) -> Option<Message> {
        let kept = self.take(pid);
        message.or(kept)
    }
}

/// A client with owned buffers of the default sizes: rx and tx of 64 KiB (the largest packet
/// either way) and a 256 KiB session store.
pub(crate) fn client(
    options: crate::ConnectOptions<'_>,
) -> Result<crate::Client<Vec<u8>>, crate::ConfigError> {
    let (rx, tx, store) = (
        std::vec![0; 64 << 10],
        std::vec![0; 64 << 10],
        std::vec![0; 256 << 10],
    );
    crate::Client::new(options, rx, tx, store)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Message, OwnedEvent};
    use crate::Event;
    use crate::client::Chunk;
    use crate::packet::{PacketId, Publish, QoS, QosPid};
    use crate::topic::TopicName;

    #[test]
    fn an_owned_event_keeps_every_field_of_the_borrowed_one() {
        let topic = TopicName::new("a/b").unwrap();
        let chunk = Event::Chunk(Chunk {
            topic,
            qos: QoS::AtLeastOnce,
            retain: true,
            dup: true,
            offset: 4,
            total: 10,
            data: b"xy",
        });
        assert_eq!(
            chunk.to_owned(),
            OwnedEvent::Chunk {
                topic: "a/b".into(),
                qos: QoS::AtLeastOnce,
                retain: true,
                dup: true,
                offset: 4,
                total: 10,
                data: b"xy".to_vec(),
            }
        );
        let message = Event::Message(Publish {
            dup: true,
            qos: QosPid::ExactlyOnce(PacketId::new(7).unwrap()),
            retain: true,
            topic,
            payload: b"p",
        });
        assert_eq!(
            message.to_owned(),
            OwnedEvent::Message(Message {
                topic: "a/b".into(),
                payload: b"p".to_vec(),
                qos: QoS::ExactlyOnce,
                retain: true,
                dup: true,
            })
        );
    }
}
