//! The fixed header: packet type, flags and the variable-length Remaining Length (2.2).

use super::{DecodeError, EncodeError, PacketType, cursor::Writer};

/// The largest Remaining Length four bytes can encode (section 2.2.3).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// True when a packet of `encoded_len` bytes (as `Packet::encoded_len` counts them) has a
/// Remaining Length over [`MAX_REMAINING_LENGTH`], so `Packet::encode` refuses it: the
/// largest encodable packet is that length plus a 5-byte fixed header.
pub(crate) const fn too_large(encoded_len: usize) -> bool {
    encoded_len > MAX_REMAINING_LENGTH + 5
}

/// A parsed fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedHeader {
    /// The packet type.
    pub packet_type: PacketType,
    /// The low nibble of the first byte.
    pub flags: u8,
    /// Bytes taken by the fixed header itself (2 to 5).
    pub header_len: usize,
    /// The Remaining Length: bytes of variable header and payload.
    pub remaining_len: usize,
}

/// The outcome of reading a fixed header from a prefix of a packet.
pub(crate) enum HeaderStatus {
    /// The header is complete.
    Complete(FixedHeader),
    /// More bytes are needed to finish the Remaining Length field.
    Partial,
}

/// Reads the fixed header at the start of `buf`, checking the type and its flags first so that
/// an invalid first byte is reported as soon as it arrives, whatever follows.
#[inline]
pub(crate) fn parse(buf: &[u8]) -> Result<HeaderStatus, DecodeError> {
    let Some((&first, rest)) = buf.split_first() else {
        return Ok(HeaderStatus::Partial);
    };
    let packet_type = PacketType::from_nibble(first >> 4)?;
    let flags = first & 0x0F;
    if let Some(required) = packet_type.required_flags() {
        if flags != required {
            return Err(DecodeError::InvalidFlags { packet_type, flags });
        }
    }
    let mut remaining_len = 0usize;
    for (i, &byte) in rest.iter().take(4).enumerate() {
        remaining_len |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(HeaderStatus::Complete(FixedHeader {
                packet_type,
                flags,
                header_len: i + 2,
                remaining_len,
            }));
        }
    }
    if rest.len() >= 4 {
        Err(DecodeError::MalformedRemainingLength)
    } else {
        Ok(HeaderStatus::Partial)
    }
}

/// How many bytes the Remaining Length field takes for `len` (1 to 4).
pub(crate) const fn remaining_length_len(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes the first byte and the Remaining Length (at most [`MAX_REMAINING_LENGTH`]: the
/// caller checked, see `Packet::too_large`).
pub(crate) fn write(
    w: &mut Writer<'_>,
    first: u8,
    remaining_len: usize,
) -> Result<(), EncodeError> {
    w.u8(first)?;
    let mut len = remaining_len;
    loop {
        // Truncation is intended: the low seven bits of `len`.
        let mut byte = (len & 0x7F) as u8;
        len >>= 7;
        if len > 0 {
            byte |= 0x80;
        }
        w.u8(byte)?;
        if len == 0 {
            return Ok(());
        }
    }
}
