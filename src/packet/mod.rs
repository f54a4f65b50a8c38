//! The MQTT 3.1.1 codec: all 14 control packets, zero-copy decode, encode into a caller's
//! buffer.
//!
//! [`decode`] reads one packet from the front of a byte slice. Every string, payload and list
//! in the result borrows from that slice. Given only a prefix of a packet it answers
//! [`Status::Partial`] with how many more bytes are needed; the outcome never depends on how
//! the bytes arrived. Every malformed input is a [`DecodeError`]; no input panics.
//!
//! [`Packet::encode`] writes into a caller's `&mut [u8]`; [`Packet::encoded_len`] gives the
//! exact size first. The packet types make most invalid packets unrepresentable (QoS 3,
//! packet id 0, wildcards in topic names, a password without a user name, an empty
//! SUBSCRIBE); what remains is an [`EncodeError`].

mod connect;
mod cursor;
mod error;
mod fields;
mod header;
mod publish;
pub(crate) mod scan;
mod subscribe;
pub mod topic;

pub use connect::{Connack, Connect, ConnectReturnCode, Login, Protocol, Will};
pub use error::{DecodeError, EncodeError};
pub use fields::{MqttStr, PacketId, Password, QoS, StrError};
pub use header::MAX_REMAINING_LENGTH;
pub(crate) use header::too_large;
#[cfg(feature = "streaming")]
pub(crate) use publish::decode_head;
pub(crate) use publish::set_dup;
pub use publish::{Publish, QosPid};
pub use subscribe::{
    Iter, List, ListEntry, Suback, SubackCode, SubackCodes, Subscribe, SubscribeFilters,
    Subscription, Unsubscribe, UnsubscribeFilters,
};

use cursor::{Reader, Writer};
use header::{FixedHeader, HeaderStatus};

/// The 14 control packet types (2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // Each name is the packet's name in the specification.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PacketType {
    Connect = 1,
    Connack = 2,
    Publish = 3,
    Puback = 4,
    Pubrec = 5,
    Pubrel = 6,
    Pubcomp = 7,
    Subscribe = 8,
    Suback = 9,
    Unsubscribe = 10,
    Unsuback = 11,
    Pingreq = 12,
    Pingresp = 13,
    Disconnect = 14,
}

impl PacketType {
    /// The type for the upper nibble of the first byte.
    fn from_nibble(nibble: u8) -> Result<PacketType, DecodeError> {
        use PacketType::*;
        Ok(match nibble {
            1 => Connect,
            2 => Connack,
            3 => Publish,
            4 => Puback,
            5 => Pubrec,
            6 => Pubrel,
            7 => Pubcomp,
            8 => Subscribe,
            9 => Suback,
            10 => Unsubscribe,
            11 => Unsuback,
            12 => Pingreq,
            13 => Pingresp,
            14 => Disconnect,
            other => return Err(DecodeError::ReservedPacketType(other)),
        })
    }

    /// The only side that sends this type (Table 2.1, "Direction of flow"); `None` for the
    /// types both send (PUBLISH and its acknowledgements).
    pub const fn sender(self) -> Option<Sender> {
        use PacketType::*;
        match self {
            Connect | Subscribe | Unsubscribe | Pingreq | Disconnect => Some(Sender::Client),
            Connack | Suback | Unsuback | Pingresp => Some(Sender::Server),
            Publish | Puback | Pubrec | Pubrel | Pubcomp => None,
        }
    }

    /// The flags Table 2.2 fixes for this type; `None` for PUBLISH, whose flags carry
    /// DUP, QoS and RETAIN (MQTT-2.2.2-1).
    const fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::Pubrel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

/// A side of the connection, for [`decode_from`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Sender {
    /// The client: CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT and the PUBLISH family.
    Client,
    /// The server: CONNACK, SUBACK, UNSUBACK, PINGRESP and the PUBLISH family.
    Server,
}

/// One MQTT 3.1.1 control packet, borrowing its strings, payloads and lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Packet<'a> {
    /// Client request to connect (3.1).
    Connect(Connect<'a>),
    /// Connect acknowledgement (3.2).
    Connack(Connack),
    /// An application message (3.3).
    Publish(Publish<'a>),
    /// QoS 1 publish acknowledgement (3.4).
    Puback(PacketId),
    /// QoS 2 publish received, part 1 (3.5).
    Pubrec(PacketId),
    /// QoS 2 publish release, part 2 (3.6).
    Pubrel(PacketId),
    /// QoS 2 publish complete, part 3 (3.7).
    Pubcomp(PacketId),
    /// Subscribe to one or more topic filters (3.8).
    Subscribe(Subscribe<'a>),
    /// Subscribe acknowledgement, one return code per filter (3.9).
    Suback(Suback<'a>),
    /// Unsubscribe from one or more topic filters (3.10).
    Unsubscribe(Unsubscribe<'a>),
    /// Unsubscribe acknowledgement (3.11).
    Unsuback(PacketId),
    /// Keep-alive ping request (3.12).
    Pingreq,
    /// Keep-alive ping response (3.13).
    Pingresp,
    /// Client is disconnecting cleanly (3.14).
    Disconnect,
}

/// The result of [`decode`] on bytes that are not (yet) malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status<'a> {
    /// A whole packet was decoded from the first `len` bytes of the input.
    Complete {
        /// The packet.
        packet: Packet<'a>,
        /// How many input bytes it took; the next packet starts there.
        len: usize,
    },
    /// The input is a prefix of a packet. While the fixed header is incomplete `needed` is
    /// a lower bound (1); once it is complete, `needed` is exact: input length plus `needed`
    /// is the packet's full size, known before its body arrives.
    Partial {
        /// How many more bytes are needed.
        needed: usize,
    },
}

/// Decodes the packet at the start of `buf`, borrowing from it.
///
/// Bytes after the first packet are left alone (see [`Status::Complete::len`]). Errors in
/// the first byte and the Remaining Length are reported as soon as those bytes are present;
/// errors in the body once the whole body is.
pub fn decode(buf: &[u8]) -> Result<Status<'_>, DecodeError> {
    decode_checked::<ANY>(buf)
}

/// Like [`decode`], for bytes that came from `sender`: a packet type only the other side
/// sends is [`DecodeError::WrongSender`] as soon as its fixed header is there, its body never
/// parsed. A program that decodes only one side's packets (a client: `Sender::Server`)
/// leaves the other side's parsers out of its binary (0.7 KB of a Cortex-M client).
#[inline(always)] // so a constant `sender` picks one copy at the call site
pub fn decode_from(buf: &[u8], sender: Sender) -> Result<Status<'_>, DecodeError> {
    match sender {
        Sender::Client => decode_checked::<FROM_CLIENT>(buf),
        Sender::Server => decode_checked::<FROM_SERVER>(buf),
    }
}

/// [`decode_checked`]'s sender filter: any, from a client, from a server. A const parameter,
/// so each filter is its own copy and the parsers it refuses are dropped.
const ANY: u8 = 0;
const FROM_CLIENT: u8 = 1;
const FROM_SERVER: u8 = 2;

/// Does the filter `FROM` let packets of type `ty` through?
const fn accepts<const FROM: u8>(ty: PacketType) -> bool {
    match ty.sender() {
        Some(Sender::Client) => FROM != FROM_SERVER,
        Some(Sender::Server) => FROM != FROM_CLIENT,
        None => true,
    }
}

fn decode_checked<const FROM: u8>(buf: &[u8]) -> Result<Status<'_>, DecodeError> {
    let header = match header::parse(buf)? {
        HeaderStatus::Complete(header) => header,
        HeaderStatus::Partial => return Ok(Status::Partial { needed: 1 }),
    };
    if !accepts::<FROM>(header.packet_type) {
        return Err(DecodeError::WrongSender(header.packet_type));
    }
    let len = header.header_len + header.remaining_len;
    match buf.get(header.header_len..len) {
        Some(body) => Ok(Status::Complete {
            packet: Packet::decode_body::<FROM>(header, body)?,
            len,
        }),
        None => Ok(Status::Partial {
            needed: len - buf.len(),
        }),
    }
}

/// Encodes `packet` into `buf`, returning the number of bytes written.
/// The same as [`Packet::encode`].
pub fn encode(packet: &Packet<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
    packet.encode(buf)
}

impl<'a> Packet<'a> {
    /// Decodes the body of a packet whose fixed header is `header`. The guards repeat the
    /// caller's sender check with a constant, so the refused parsers are compiled out.
    fn decode_body<const FROM: u8>(
        header: FixedHeader,
        body: &'a [u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let ty = header.packet_type;
        // Each arm that one side never sends is cut at compile time (`const` guards), so a
        // filtered copy carries no parser for it, whatever the optimiser decides.
        let packet = match ty {
            PacketType::Connect if const { accepts::<FROM>(PacketType::Connect) } => {
                Packet::Connect(Connect::decode(&mut r)?)
            }
            PacketType::Connack if const { accepts::<FROM>(PacketType::Connack) } => {
                Packet::Connack(Connack::decode(&mut r)?)
            }
            PacketType::Publish => Packet::Publish(Publish::decode(header.flags, &mut r)?),
            PacketType::Puback => Packet::Puback(r.packet_id()?),
            PacketType::Pubrec => Packet::Pubrec(r.packet_id()?),
            PacketType::Pubrel => Packet::Pubrel(r.packet_id()?),
            PacketType::Pubcomp => Packet::Pubcomp(r.packet_id()?),
            PacketType::Subscribe if const { accepts::<FROM>(PacketType::Subscribe) } => {
                Packet::Subscribe(Subscribe::decode(&mut r)?)
            }
            PacketType::Suback if const { accepts::<FROM>(PacketType::Suback) } => {
                Packet::Suback(Suback::decode(&mut r)?)
            }
            PacketType::Unsubscribe if const { accepts::<FROM>(PacketType::Unsubscribe) } => {
                Packet::Unsubscribe(Unsubscribe::decode(&mut r)?)
            }
            PacketType::Unsuback if const { accepts::<FROM>(PacketType::Unsuback) } => {
                Packet::Unsuback(r.packet_id()?)
            }
            PacketType::Pingreq if const { accepts::<FROM>(PacketType::Pingreq) } => {
                Packet::Pingreq
            }
            PacketType::Pingresp if const { accepts::<FROM>(PacketType::Pingresp) } => {
                Packet::Pingresp
            }
            PacketType::Disconnect if const { accepts::<FROM>(PacketType::Disconnect) } => {
                Packet::Disconnect
            }
            _ => return Err(DecodeError::WrongSender(ty)),
        };
        r.finish()?;
        Ok(packet)
    }

    /// The packet's type.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::Connack(_) => PacketType::Connack,
            Packet::Publish(_) => PacketType::Publish,
            Packet::Puback(_) => PacketType::Puback,
            Packet::Pubrec(_) => PacketType::Pubrec,
            Packet::Pubrel(_) => PacketType::Pubrel,
            Packet::Pubcomp(_) => PacketType::Pubcomp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::Suback(_) => PacketType::Suback,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::Unsuback(_) => PacketType::Unsuback,
            Packet::Pingreq => PacketType::Pingreq,
            Packet::Pingresp => PacketType::Pingresp,
            Packet::Disconnect => PacketType::Disconnect,
        }
    }

    /// The first byte: type and flags.
    fn first_byte(&self) -> u8 {
        let ty = self.packet_type();
        let flags = match self {
            Packet::Publish(p) => p.flags(),
            _ => ty.required_flags().unwrap_or(0),
        };
        ((ty as u8) << 4) | flags
    }

    /// The Remaining Length: bytes of variable header and payload (saturating on absurd
    /// sizes, which [`Packet::encode`] then refuses).
    fn remaining_len(&self) -> usize {
        match self {
            Packet::Connect(c) => c.body_len(),
            Packet::Connack(_) => 2,
            Packet::Publish(p) => p.body_len(),
            Packet::Puback(_)
            | Packet::Pubrec(_)
            | Packet::Pubrel(_)
            | Packet::Pubcomp(_)
            | Packet::Unsuback(_) => 2,
            Packet::Subscribe(s) => s.body_len(),
            Packet::Suback(s) => s.body_len(),
            Packet::Unsubscribe(u) => u.body_len(),
            Packet::Pingreq | Packet::Pingresp | Packet::Disconnect => 0,
        }
    }

    /// Where the encoded packet's identifier starts, for a packet whose variable header
    /// begins with one (SUBSCRIBE, UNSUBSCRIBE, the acknowledgements): right after the fixed
    /// header. `None` for the others.
    pub(crate) fn packet_id_at(&self) -> Option<usize> {
        match self {
            Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::Suback(_)
            | Packet::Puback(_)
            | Packet::Pubrec(_)
            | Packet::Pubrel(_)
            | Packet::Pubcomp(_)
            | Packet::Unsuback(_) => Some(1 + header::remaining_length_len(self.remaining_len())),
            _ => None,
        }
    }

    /// The exact number of bytes [`Packet::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        Self::len_with(self.remaining_len())
    }

    /// Whole-packet length for a Remaining Length: first byte, its encoding, the body.
    fn len_with(remaining: usize) -> usize {
        remaining.saturating_add(1 + header::remaining_length_len(remaining))
    }

    /// Encodes the packet into `buf`, returning the number of bytes written
    /// (always [`Packet::encoded_len`]).
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        if let Packet::Publish(p) = self {
            p.check()?;
        }
        let remaining = self.remaining_len();
        if remaining > MAX_REMAINING_LENGTH {
            return Err(EncodeError::PacketTooLarge);
        }
        let mut w = Writer::new(buf, Self::len_with(remaining))?;
        header::write(&mut w, self.first_byte(), remaining)?;
        match self {
            Packet::Connect(c) => c.encode_body(&mut w)?,
            Packet::Connack(c) => c.encode_body(&mut w)?,
            Packet::Publish(p) => p.encode_body(&mut w)?,
            Packet::Puback(id)
            | Packet::Pubrec(id)
            | Packet::Pubrel(id)
            | Packet::Pubcomp(id)
            | Packet::Unsuback(id) => w.u16(id.get())?,
            Packet::Subscribe(s) => s.encode_body(&mut w)?,
            Packet::Suback(s) => s.encode_body(&mut w)?,
            Packet::Unsubscribe(u) => u.encode_body(&mut w)?,
            Packet::Pingreq | Packet::Pingresp | Packet::Disconnect => {}
        }
        Ok(w.position())
    }
}
