//! SUBSCRIBE (3.8), SUBACK (3.9) and UNSUBSCRIBE (3.10), whose payloads are lists.
//!
//! A decoded list borrows the validated wire bytes and is iterated from them: no copy, no
//! fixed capacity. A list to encode borrows the caller's slice. Both compare equal when
//! they hold the same entries.

use core::fmt;

use super::cursor::{Reader, Writer};
use super::{DecodeError, EncodeError, PacketId, QoS};
use crate::topic::TopicFilter;

/// An entry of a packet's payload list. Sealed: implemented for [`Subscription`],
/// [`TopicFilter`] and [`SubackCode`].
pub trait ListEntry<'a>: Copy + PartialEq + fmt::Debug + private::Sealed {
    /// Reads one entry, validating it.
    fn parse(r: &mut Reader<'a>) -> Result<Self, DecodeError>;
    /// The entry's encoded size.
    fn wire_len(&self) -> usize;
    /// Writes the entry.
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError>;
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::Subscription<'_> {}
    impl Sealed for super::TopicFilter<'_> {}
    impl Sealed for super::SubackCode {}
}

#[derive(Clone, Copy)]
enum Repr<'a, T> {
    /// Wire bytes, validated when decoded.
    Wire(&'a [u8]),
    /// The caller's entries.
    Items(&'a [T]),
}

/// A non-empty list of entries, borrowed from the wire or from the caller.
#[derive(Clone, Copy)]
pub struct List<'a, T>(Repr<'a, T>);

/// The topic filters and requested QoS of a SUBSCRIBE.
pub type SubscribeFilters<'a> = List<'a, Subscription<'a>>;
/// The topic filters of an UNSUBSCRIBE.
pub type UnsubscribeFilters<'a> = List<'a, TopicFilter<'a>>;
/// The return codes of a SUBACK, one per filter of the SUBSCRIBE, in order.
pub type SubackCodes<'a> = List<'a, SubackCode>;

impl<'a, T: ListEntry<'a>> List<'a, T> {
    /// A list of the caller's `entries`; an empty one is [`EncodeError::EmptyList`]
    /// (MQTT-3.8.3-3, MQTT-3.10.3-2).
    pub fn new(entries: &'a [T]) -> Result<Self, EncodeError> {
        if entries.is_empty() {
            return Err(EncodeError::EmptyList);
        }
        Ok(List(Repr::Items(entries)))
    }

    /// Validates the rest of `r` as a non-empty sequence of entries and borrows it.
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let wire = r.rest();
        let mut check = Reader::new(wire);
        if check.is_empty() {
            return Err(DecodeError::EmptyList);
        }
        while !check.is_empty() {
            T::parse(&mut check)?;
        }
        Ok(List(Repr::Wire(wire)))
    }

    /// The entries, in order.
    pub fn iter(&self) -> Iter<'a, T> {
        match self.0 {
            Repr::Wire(bytes) => Iter(IterRepr::Wire(Reader::new(bytes))),
            Repr::Items(items) => Iter(IterRepr::Items(items.iter())),
        }
    }

    /// The number of entries (at least one).
    pub fn len(&self) -> usize {
        match self.0 {
            Repr::Wire(_) => self.iter().count(),
            Repr::Items(items) => items.len(),
        }
    }

    /// Always false: a list holds at least one entry.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn wire_len(&self) -> usize {
        match self.0 {
            Repr::Wire(bytes) => bytes.len(),
            Repr::Items(items) => items
                .iter()
                .fold(0usize, |n, e| n.saturating_add(e.wire_len())),
        }
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        match self.0 {
            Repr::Wire(bytes) => w.bytes(bytes),
            Repr::Items(items) => items.iter().try_for_each(|e| e.write(w)),
        }
    }
}

impl<'a, T: ListEntry<'a>> IntoIterator for List<'a, T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<'a, T: ListEntry<'a>> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a, T: ListEntry<'a>> Eq for List<'a, T> {}

impl<'a, T: ListEntry<'a>> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(feature = "defmt")]
impl<'a, T: ListEntry<'a> + defmt::Format> defmt::Format for List<'a, T> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "[");
        for (i, entry) in self.iter().enumerate() {
            if i > 0 {
                defmt::write!(f, ", ");
            }
            defmt::write!(f, "{}", entry);
        }
        defmt::write!(f, "]");
    }
}

enum IterRepr<'a, T> {
    Wire(Reader<'a>),
    Items(core::slice::Iter<'a, T>),
}

/// Iterator over the entries of a [`List`].
pub struct Iter<'a, T>(IterRepr<'a, T>);

impl<'a, T: ListEntry<'a>> Iterator for Iter<'a, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match &mut self.0 {
            // The bytes were validated by `List::decode`, so parsing cannot fail here.
            IterRepr::Wire(r) => T::parse(r).ok(),
            IterRepr::Items(items) => items.next().copied(),
        }
    }
}

/// One SUBSCRIBE entry: a topic filter and the maximum QoS requested for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Subscription<'a> {
    /// The topic filter.
    pub filter: TopicFilter<'a>,
    /// The maximum QoS the server may deliver at.
    pub qos: QoS,
}

impl<'a> ListEntry<'a> for Subscription<'a> {
    fn parse(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let filter = r.topic_filter()?;
        let byte = r.u8()?;
        // Bits 7-2 are reserved and the QoS must not be 3 (MQTT-3.8.3-4).
        let qos = QoS::from_bits(byte).ok_or(DecodeError::InvalidRequestedQos(byte))?;
        Ok(Subscription { filter, qos })
    }
    fn wire_len(&self) -> usize {
        2 + self.filter.as_str().len() + 1
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.binary(self.filter.as_str().as_bytes())?;
        w.u8(self.qos.bits())
    }
}

impl<'a> ListEntry<'a> for TopicFilter<'a> {
    fn parse(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        r.topic_filter()
    }
    fn wire_len(&self) -> usize {
        2 + self.as_str().len()
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.binary(self.as_str().as_bytes())
    }
}

/// A SUBACK return code: the QoS granted, or failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SubackCode {
    /// The subscription was accepted with this maximum QoS.
    Success(QoS),
    /// 0x80: the subscription was refused.
    Failure,
}

impl SubackCode {
    /// The wire byte.
    pub const fn to_u8(self) -> u8 {
        match self {
            SubackCode::Success(qos) => qos.bits(),
            SubackCode::Failure => 0x80,
        }
    }
}

impl ListEntry<'_> for SubackCode {
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let byte = r.u8()?;
        match (byte, QoS::from_bits(byte)) {
            (_, Some(qos)) => Ok(SubackCode::Success(qos)),
            (0x80, None) => Ok(SubackCode::Failure),
            _ => Err(DecodeError::InvalidSubackCode(byte)),
        }
    }
    fn wire_len(&self) -> usize {
        1
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(self.to_u8())
    }
}

/// A SUBSCRIBE packet (3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Subscribe<'a> {
    /// The packet identifier the SUBACK will echo.
    pub pid: PacketId,
    /// One or more filters with their requested QoS.
    pub filters: SubscribeFilters<'a>,
}

/// A SUBACK packet (3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Suback<'a> {
    /// The identifier of the SUBSCRIBE it answers.
    pub pid: PacketId,
    /// One return code per requested filter, in order.
    pub codes: SubackCodes<'a>,
}

/// An UNSUBSCRIBE packet (3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Unsubscribe<'a> {
    /// The packet identifier the UNSUBACK will echo.
    pub pid: PacketId,
    /// One or more filters to remove.
    pub filters: UnsubscribeFilters<'a>,
}

/// The three packets made of a packet identifier and a list.
macro_rules! id_and_list {
    ($packet:ident, $list:ident) => {
        impl<'a> $packet<'a> {
            pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
                let pid = r.packet_id()?;
                Ok($packet {
                    pid,
                    $list: List::decode(r)?,
                })
            }

            pub(crate) fn body_len(&self) -> usize {
                self.$list.wire_len().saturating_add(2)
            }

            pub(crate) fn encode_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
                w.u16(self.pid.get())?;
                self.$list.write(w)
            }
        }
    };
}

id_and_list!(Subscribe, filters);
id_and_list!(Suback, codes);
id_and_list!(Unsubscribe, filters);
