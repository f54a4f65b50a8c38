//! Bounds-checked reading and writing of the field types of section 1.5.

use core::num::NonZeroU16;

use super::{DecodeError, EncodeError, PacketId};
use crate::topic::{TopicFilter, TopicName};

/// Reads fields from the body of one packet; running past its end is [`DecodeError::UnexpectedEnd`].
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from `buf`, the packet's variable header and payload.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self
            .buf
            .split_at_checked(n)
            .ok_or(DecodeError::UnexpectedEnd)?;
        self.buf = tail;
        Ok(head)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, tail) = self.buf.split_first().ok_or(DecodeError::UnexpectedEnd)?;
        self.buf = tail;
        Ok(b)
    }

    /// Reads a big-endian two-byte integer (1.5.2).
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let hi = self.u8()?;
        let lo = self.u8()?;
        Ok(u16::from_be_bytes([hi, lo]))
    }

    /// Reads a non-zero packet identifier (MQTT-2.3.1-1).
    pub fn packet_id(&mut self) -> Result<PacketId, DecodeError> {
        NonZeroU16::new(self.u16()?)
            .map(PacketId)
            .ok_or(DecodeError::ZeroPacketId)
    }

    /// Reads two-byte-length-prefixed binary data (3.1.3.3, 3.1.3.5).
    pub fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// Reads a UTF-8 encoded string (1.5.3): well-formed, no surrogates, no U+0000.
    /// A byte order mark is kept as U+FEFF (MQTT-1.5.3-3).
    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let bytes = self.binary()?;
        let s = self.utf8(bytes)?;
        if crate::packet::scan::has_any(bytes, [0]) {
            return Err(DecodeError::NullCharacter);
        }
        Ok(s)
    }

    /// Reads a topic name: a UTF-8 encoded string validated once, by [`TopicName::new`].
    pub fn topic_name(&mut self) -> Result<TopicName<'a>, DecodeError> {
        let bytes = self.binary()?;
        Ok(TopicName::new(self.utf8(bytes)?)?)
    }

    /// Reads a topic filter, validated once by [`TopicFilter::new`].
    pub fn topic_filter(&mut self) -> Result<TopicFilter<'a>, DecodeError> {
        let bytes = self.binary()?;
        Ok(TopicFilter::new(self.utf8(bytes)?)?)
    }

    /// Checks well-formed UTF-8 without surrogates (MQTT-1.5.3-1).
    fn utf8(&self, bytes: &'a [u8]) -> Result<&'a str, DecodeError> {
        core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Succeeds only when every byte has been read.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// Writes fields into a caller's buffer; overflowing it is [`EncodeError::BufferTooSmall`].
pub struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
    /// The whole packet's size, reported if the buffer turns out too small.
    needed: usize,
}

impl<'b> Writer<'b> {
    /// Writes into `buf` a packet of `needed` bytes.
    pub fn new(buf: &'b mut [u8], needed: usize) -> Result<Self, EncodeError> {
        if buf.len() < needed {
            return Err(EncodeError::BufferTooSmall { needed });
        }
        Ok(Writer {
            buf,
            pos: 0,
            needed,
        })
    }

    /// Writes raw bytes.
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos.checked_add(bytes.len());
        let dst = end.and_then(|end| self.buf.get_mut(self.pos..end)).ok_or(
            EncodeError::BufferTooSmall {
                needed: self.needed,
            },
        )?;
        dst.copy_from_slice(bytes);
        self.pos += bytes.len();
        Ok(())
    }

    /// Writes one byte.
    pub fn u8(&mut self, b: u8) -> Result<(), EncodeError> {
        self.bytes(&[b])
    }

    /// Writes a big-endian two-byte integer.
    pub fn u16(&mut self, v: u16) -> Result<(), EncodeError> {
        self.bytes(&v.to_be_bytes())
    }

    /// Writes two-byte-length-prefixed data; longer than 65,535 bytes is an error.
    pub fn binary(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        let len = u16::try_from(data.len()).map_err(|_| EncodeError::FieldTooLong)?;
        self.u16(len)?;
        self.bytes(data)
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.pos
    }
}
