//! PUBLISH (3.3). The acknowledgements PUBACK, PUBREC, PUBREL and PUBCOMP carry only a
//! packet identifier and are variants of [`super::Packet`].

#[cfg(feature = "streaming")]
use super::PacketType;
use super::cursor::{Reader, Writer};
#[cfg(feature = "streaming")]
use super::header::{self, HeaderStatus};
use super::{DecodeError, EncodeError, PacketId, QoS};
use crate::topic::TopicName;

/// PUBLISH's fixed-header flags (3.3.1): DUP, the QoS in bits 1–2, RETAIN.
const DUP: u8 = 0b1000;
const QOS_SHIFT: u8 = 1;
const QOS_MASK: u8 = 0b11;
const RETAIN: u8 = 0b0001;

/// Marks the encoded PUBLISH `packet` as a re-delivery (DUP = 1, MQTT-3.3.1-1), for a session
/// resending what it stored. Only valid for QoS 1/2 (the caller's stored messages are).
pub(crate) fn set_dup(packet: &mut [u8]) {
    if let Some(first) = packet.first_mut() {
        *first |= DUP;
    }
}

/// A QoS together with the packet identifier it requires: QoS 0 has none, QoS 1 and 2 have
/// one (MQTT-2.3.1-1, MQTT-2.3.1-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QosPid {
    /// QoS 0, no packet identifier.
    AtMostOnce,
    /// QoS 1 with its packet identifier.
    AtLeastOnce(PacketId),
    /// QoS 2 with its packet identifier.
    ExactlyOnce(PacketId),
}

impl QosPid {
    /// The QoS level.
    pub const fn qos(self) -> QoS {
        match self {
            QosPid::AtMostOnce => QoS::AtMostOnce,
            QosPid::AtLeastOnce(_) => QoS::AtLeastOnce,
            QosPid::ExactlyOnce(_) => QoS::ExactlyOnce,
        }
    }

    /// The packet identifier, if the QoS has one.
    pub const fn pid(self) -> Option<PacketId> {
        match self {
            QosPid::AtMostOnce => None,
            QosPid::AtLeastOnce(pid) | QosPid::ExactlyOnce(pid) => Some(pid),
        }
    }
}

/// A PUBLISH packet (3.3): an application message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Publish<'a> {
    /// Set on a re-delivery (MQTT-3.3.1-1); must be clear at QoS 0 (MQTT-3.3.1-2).
    pub dup: bool,
    /// QoS and packet identifier.
    pub qos: QosPid,
    /// Retain the message on the server, or (inbound) it was a retained message.
    pub retain: bool,
    /// The topic name; never contains wildcards.
    pub topic: TopicName<'a>,
    /// The application message; may be empty.
    pub payload: &'a [u8],
}

impl<'a> Publish<'a> {
    /// The message's QoS level.
    pub const fn qos(&self) -> QoS {
        self.qos.qos()
    }

    #[inline]
    pub(crate) fn decode(flags: u8, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let dup = flags & DUP != 0;
        let retain = flags & RETAIN != 0;
        let qos = QoS::from_bits((flags >> QOS_SHIFT) & QOS_MASK).ok_or(DecodeError::InvalidQos)?;
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::DupWithQos0);
        }
        let topic = r.topic_name()?;
        let qos = match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            QoS::AtLeastOnce => QosPid::AtLeastOnce(r.packet_id()?),
            QoS::ExactlyOnce => QosPid::ExactlyOnce(r.packet_id()?),
        };
        Ok(Publish {
            dup,
            qos,
            retain,
            topic,
            payload: r.rest(),
        })
    }

    /// The fixed-header flags: DUP, QoS, RETAIN.
    pub(crate) fn flags(&self) -> u8 {
        let dup = if self.dup { DUP } else { 0 };
        let retain = if self.retain { RETAIN } else { 0 };
        dup | (self.qos.qos().bits() << QOS_SHIFT) | retain
    }

    /// Refuses what the types cannot: DUP at QoS 0.
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if self.dup && self.qos == QosPid::AtMostOnce {
            return Err(EncodeError::DupWithQos0);
        }
        Ok(())
    }

    pub(crate) fn body_len(&self) -> usize {
        let pid_len = if self.qos.pid().is_some() { 2 } else { 0 };
        (2 + self.topic.as_str().len() + pid_len).saturating_add(self.payload.len())
    }

    pub(crate) fn encode_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.binary(self.topic.as_str().as_bytes())?;
        if let Some(pid) = self.qos.pid() {
            w.u16(pid.get())?;
        }
        w.bytes(self.payload)
    }
}

#[cfg(feature = "streaming")]
/// The start of a PUBLISH whose payload may not have arrived: the message with an empty
/// payload, where the payload starts, and its length (a streamed message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PublishHead<'a> {
    pub publish: Publish<'a>,
    pub head_len: usize,
    pub payload_len: usize,
}

#[cfg(feature = "streaming")]
/// Decodes the head (fixed header, topic, packet id) of a PUBLISH at the start of `data`,
/// checked like a whole one; `None` until it is complete, or when `data` starts with another
/// packet type.
pub(crate) fn decode_head(data: &[u8]) -> Result<Option<PublishHead<'_>>, DecodeError> {
    let HeaderStatus::Complete(h) = header::parse(data)? else {
        return Ok(None);
    };
    if h.packet_type != PacketType::Publish {
        return Ok(None);
    }
    let var = data.get(h.header_len..).unwrap_or_default();
    let &[hi, lo, ..] = var else {
        return Ok(None);
    };
    let pid_len = if (h.flags >> QOS_SHIFT) & QOS_MASK == 0 {
        0
    } else {
        2
    };
    let need = 2 + usize::from(u16::from_be_bytes([hi, lo])) + pid_len;
    if need > h.remaining_len {
        return Err(DecodeError::UnexpectedEnd);
    }
    let Some(var) = var.get(..need) else {
        return Ok(None);
    };
    let publish = Publish::decode(h.flags, &mut Reader::new(var))?;
    Ok(Some(PublishHead {
        publish,
        head_len: h.header_len + need,
        payload_len: h.remaining_len - need,
    }))
}

#[cfg(feature = "streaming")]
impl Publish<'_> {
    /// For a PUBLISH whose `payload_len` payload bytes are written after it (its `payload`
    /// field is ignored): its Remaining Length and the length of its head (fixed header,
    /// topic, packet id).
    pub(crate) fn head_len(&self, payload_len: usize) -> (usize, usize) {
        let pid_len = if self.qos.pid().is_some() { 2 } else { 0 };
        let var = 2 + self.topic.as_str().len() + pid_len;
        let remaining = var.saturating_add(payload_len);
        (remaining, 1 + header::remaining_length_len(remaining) + var)
    }

    /// Encodes that head into `buf`; refuses a packet larger than MQTT allows.
    pub(crate) fn encode_head(
        &self,
        payload_len: usize,
        buf: &mut [u8],
    ) -> Result<usize, EncodeError> {
        self.check()?;
        let (remaining, head) = self.head_len(payload_len);
        if remaining > header::MAX_REMAINING_LENGTH {
            return Err(EncodeError::PacketTooLarge);
        }
        let mut w = Writer::new(buf, head)?;
        header::write(
            &mut w,
            ((PacketType::Publish as u8) << 4) | self.flags(),
            remaining,
        )?;
        w.binary(self.topic.as_str().as_bytes())?;
        if let Some(pid) = self.qos.pid() {
            w.u16(pid.get())?;
        }
        Ok(w.position())
    }
}
