//! Codec errors: what was wrong with the bytes (decode) or with the request (encode).

use core::fmt;

use super::PacketType;
use crate::topic::TopicError;

/// Why bytes could not be decoded as an MQTT 3.1.1 control packet.
///
/// Every variant is a protocol violation by the sender: the receiver must close the network
/// connection (MQTT-4.8.0-1). The normative statement each variant enforces is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// The packet type nibble is 0 or 15, which are reserved.
    ReservedPacketType(u8),
    /// The fixed-header flags differ from Table 2.2 (MQTT-2.2.2-2, MQTT-3.6.1-1,
    /// MQTT-3.8.1-1, MQTT-3.10.1-1).
    InvalidFlags {
        /// The packet whose flags were wrong.
        packet_type: PacketType,
        /// The low nibble received.
        flags: u8,
    },
    /// The Remaining Length field continues past four bytes (section 2.2.3).
    MalformedRemainingLength,
    /// A field runs past the end given by the Remaining Length (content is missing).
    UnexpectedEnd,
    /// Bytes are left after the last field: the Remaining Length is larger than the content,
    /// or a packet that has no body (PINGREQ, PINGRESP, DISCONNECT) carries one.
    TrailingBytes,
    /// A QoS of 3 in PUBLISH or in the will QoS (MQTT-3.3.1-4, MQTT-3.1.2-14).
    InvalidQos,
    /// DUP is set on a QoS 0 PUBLISH (MQTT-3.3.1-2).
    DupWithQos0,
    /// A packet identifier of zero (MQTT-2.3.1-1).
    ZeroPacketId,
    /// A string is not well-formed UTF-8, or encodes a surrogate (MQTT-1.5.3-1).
    InvalidUtf8,
    /// A string contains U+0000 (MQTT-1.5.3-2).
    NullCharacter,
    /// A topic name or filter breaks the rules of section 4.7.
    Topic(TopicError),
    /// The CONNECT protocol name is neither "MQTT" nor "MQIsdp" (MQTT-3.1.2-1).
    InvalidProtocolName,
    /// The protocol name is known but the level is not the one it goes with
    /// ("MQTT" needs 4, "MQIsdp" needs 3). A server answers CONNACK 0x01 (MQTT-3.1.2-2).
    UnsupportedProtocolLevel(u8),
    /// The reserved bit 0 of the CONNECT flags is set (MQTT-3.1.2-3).
    ConnectReservedFlag,
    /// Will QoS or will retain is set without the will flag (MQTT-3.1.2-13, MQTT-3.1.2-15).
    WillFlagsWithoutWill,
    /// The password flag is set without the user name flag (MQTT-3.1.2-22).
    PasswordWithoutUsername,
    /// A SUBSCRIBE, UNSUBSCRIBE or SUBACK carries no entry (MQTT-3.8.3-3, MQTT-3.10.3-2).
    EmptyList,
    /// The reserved upper bits of a requested QoS are set, or the QoS is 3 (MQTT-3.8.3-4).
    InvalidRequestedQos(u8),
    /// A SUBACK return code other than 0x00, 0x01, 0x02 or 0x80 (MQTT-3.9.3-2).
    InvalidSubackCode(u8),
    /// The reserved bits 7–1 of the CONNACK acknowledge flags are set (section 3.2.2.1).
    InvalidConnackFlags(u8),
    /// A CONNACK return code above 5, which are reserved (section 3.2.2.3).
    InvalidConnectReturnCode(u8),
    /// [`crate::packet::decode_from`]: a packet type the sender never sends (a server's
    /// CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ or DISCONNECT; a client's CONNACK, SUBACK,
    /// UNSUBACK or PINGRESP — Table 2.1, "Direction of flow").
    WrongSender(PacketType),
}

impl From<TopicError> for DecodeError {
    /// U+0000 is [`DecodeError::NullCharacter`] in every string, topics included.
    fn from(e: TopicError) -> Self {
        match e {
            TopicError::NullCharacter => DecodeError::NullCharacter,
            e => DecodeError::Topic(e),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeError::*;
        match self {
            ReservedPacketType(t) => write!(f, "reserved packet type {t}"),
            InvalidFlags { packet_type, flags } => {
                write!(
                    f,
                    "invalid fixed-header flags {flags:#06b} for {packet_type:?}"
                )
            }
            MalformedRemainingLength => f.write_str("remaining length longer than 4 bytes"),
            UnexpectedEnd => f.write_str("packet content shorter than its fields"),
            TrailingBytes => f.write_str("bytes left after the packet's last field"),
            InvalidQos => f.write_str("QoS 3 is reserved"),
            DupWithQos0 => f.write_str("DUP set on a QoS 0 PUBLISH"),
            ZeroPacketId => f.write_str("packet identifier 0"),
            InvalidUtf8 => f.write_str("string is not well-formed UTF-8"),
            NullCharacter => f.write_str("string contains U+0000"),
            Topic(e) => write!(f, "invalid topic: {e}"),
            InvalidProtocolName => f.write_str("protocol name is neither MQTT nor MQIsdp"),
            UnsupportedProtocolLevel(l) => write!(f, "unsupported protocol level {l}"),
            ConnectReservedFlag => f.write_str("CONNECT reserved flag set"),
            WillFlagsWithoutWill => f.write_str("will QoS or retain set without the will flag"),
            PasswordWithoutUsername => f.write_str("password flag set without user name flag"),
            EmptyList => f.write_str("packet carries no topic filter or return code"),
            InvalidRequestedQos(b) => write!(f, "invalid requested QoS byte {b:#04x}"),
            InvalidSubackCode(c) => write!(f, "invalid SUBACK return code {c:#04x}"),
            InvalidConnackFlags(b) => write!(f, "CONNACK reserved flags set: {b:#04x}"),
            InvalidConnectReturnCode(c) => write!(f, "reserved CONNACK return code {c}"),
            WrongSender(t) => write!(f, "{t:?} from the wrong side of the connection"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why a packet could not be encoded. These are the caller's errors: nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The output buffer is smaller than the packet.
    BufferTooSmall {
        /// The packet's encoded size in bytes.
        needed: usize,
    },
    /// A binary field (will payload or password) is longer than 65,535 bytes.
    FieldTooLong,
    /// The packet's remaining length would exceed 268,435,455 bytes (section 2.2.3).
    PacketTooLarge,
    /// DUP was requested on a QoS 0 PUBLISH (MQTT-3.3.1-2).
    DupWithQos0,
    /// A SUBSCRIBE, UNSUBSCRIBE or SUBACK list is empty (MQTT-3.8.3-3, MQTT-3.10.3-2).
    EmptyList,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed } => {
                write!(f, "buffer too small: the packet needs {needed} bytes")
            }
            EncodeError::FieldTooLong => f.write_str("binary field longer than 65535 bytes"),
            EncodeError::PacketTooLarge => f.write_str("packet larger than 268435455 bytes"),
            EncodeError::DupWithQos0 => f.write_str("DUP requested on a QoS 0 PUBLISH"),
            EncodeError::EmptyList => f.write_str("empty topic filter or return code list"),
        }
    }
}

impl core::error::Error for EncodeError {}
