//! The caller's receive and transmit buffers, as the core uses them.

use crate::error::CallerError;
use crate::packet::{EncodeError, Packet};

/// Drops the first `n` bytes of `live` by moving the rest to the front; returns how many
/// were dropped (`n`, or all of `live` if shorter). Written so that the bounds are evident
/// to the optimiser: no panic path survives (see `firmware/src/bin/client.rs`).
pub(crate) fn drop_front(live: &mut [u8], n: usize) -> usize {
    let n = n.min(live.len());
    live.copy_within(n.., 0);
    n
}

/// Bytes received and not yet processed.
pub(crate) struct RxBuffer<B> {
    buf: B,
    len: usize,
    /// Bytes of a packet handed out in an event, dropped at the next call.
    consumed: usize,
}

impl<B: super::Buffer> RxBuffer<B> {
    pub fn new(buf: B) -> Self {
        RxBuffer {
            buf,
            len: 0,
            consumed: 0,
        }
    }

    /// Drops the bytes of the packet processed last.
    pub fn compact(&mut self) {
        if self.consumed > 0 {
            if let Some(live) = self.buf.as_mut().get_mut(..self.len) {
                self.len -= drop_front(live, self.consumed);
            }
            self.consumed = 0;
        }
    }

    /// Free space to read into.
    pub fn space(&mut self) -> &mut [u8] {
        self.compact();
        self.buf.as_mut().get_mut(self.len..).unwrap_or(&mut [])
    }

    /// `n` bytes were read into [`RxBuffer::space`].
    pub fn filled(&mut self, n: usize) {
        self.len = self.len.saturating_add(n).min(self.buf.as_ref().len());
    }

    /// The unprocessed bytes.
    pub fn data(&self) -> &[u8] {
        self.buf
            .as_ref()
            .get(self.consumed..self.len)
            .unwrap_or(&[])
    }

    /// Marks `n` bytes from the front as processed (dropped at the next call).
    pub fn consume(&mut self, n: usize) {
        self.consumed += n;
    }

    #[cfg(feature = "streaming")]
    /// Removes `n` unprocessed bytes starting `start` bytes in, keeping those before and after
    /// (a streamed payload's piece, behind its header).
    pub fn remove(&mut self, start: usize, n: usize) {
        let from = self.consumed.saturating_add(start);
        if let Some(live) = self.buf.as_mut().get_mut(from..self.len) {
            self.len -= drop_front(live, n);
        }
    }

    /// Capacity: the largest inbound packet.
    pub fn capacity(&self) -> usize {
        self.buf.as_ref().len()
    }

    /// Forgets everything (a new connection).
    pub fn clear(&mut self) {
        self.len = 0;
        self.consumed = 0;
    }
}

/// Encoded packets waiting to be written, in order.
pub(crate) struct TxQueue<B> {
    buf: B,
    start: usize,
    end: usize,
}

impl<B: super::Buffer> TxQueue<B> {
    pub fn new(buf: B) -> Self {
        TxQueue {
            buf,
            start: 0,
            end: 0,
        }
    }

    /// The bytes to write next.
    pub fn pending(&self) -> &[u8] {
        self.buf.as_ref().get(self.start..self.end).unwrap_or(&[])
    }

    /// `n` bytes of [`TxQueue::pending`] were written.
    pub fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space once the written bytes are dropped.
    pub fn free(&self) -> usize {
        self.buf.as_ref().len() - (self.end - self.start)
    }

    /// Capacity: the largest outbound packet.
    pub fn capacity(&self) -> usize {
        self.buf.as_ref().len()
    }

    /// The whole buffer as scratch space once everything queued was written (empty before).
    #[cfg(feature = "streaming")]
    pub fn space(&mut self) -> &mut [u8] {
        if self.start != self.end {
            return &mut [];
        }
        self.buf.as_mut()
    }

    /// Appends `len` bytes that `write` fills; `write` returns false to cancel. Returns false,
    /// changing nothing, when they do not fit or were cancelled.
    pub fn push_with(&mut self, len: usize, write: impl FnOnce(&mut [u8]) -> bool) -> bool {
        if len > self.free() {
            return false;
        }
        if self.end + len > self.buf.as_ref().len() {
            if let Some(live) = self.buf.as_mut().get_mut(..self.end) {
                self.end -= drop_front(live, self.start);
            }
            self.start = 0;
        }
        let Some(slot) = self.buf.as_mut().get_mut(self.end..self.end + len) else {
            return false;
        };
        if !write(slot) {
            return false;
        }
        self.end += len;
        true
    }

    /// Appends raw bytes.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> bool {
        self.push_with(bytes.len(), |dst| {
            dst.copy_from_slice(bytes);
            true
        })
    }

    /// Appends an encoded packet. `Ok(false)` when it does not fit now; an error when it never
    /// could or cannot be encoded.
    pub fn push_packet(&mut self, packet: &Packet<'_>) -> Result<bool, CallerError> {
        let len = packet.encoded_len();
        let capacity = self.buf.as_ref().len();
        let too_large = CallerError::PacketTooLarge {
            size: len,
            capacity,
        };
        if len > capacity {
            return Err(too_large);
        }
        let mut result = Ok(());
        let pushed = self.push_with(len, |dst| {
            result = packet.encode(dst).map(|_| ());
            result.is_ok()
        });
        result.map_err(|e| match e {
            EncodeError::FieldTooLong => CallerError::FieldTooLong,
            EncodeError::EmptyList => CallerError::FilterCount,
            _ => too_large,
        })?;
        Ok(pushed)
    }

    /// Forgets everything (a new connection).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn rx_drops_a_handed_out_packet_at_the_next_call_and_never_overfills() {
        let mut rx = RxBuffer::new([0u8; 8]);
        rx.space()[..5].copy_from_slice(b"abcde");
        rx.filled(5);
        rx.consume(2); // "ab" handed out
        assert_eq!(rx.data(), b"cde");
        assert_eq!(rx.space().len(), 5, "compacted: 8 bytes - 3 live");
        assert_eq!(rx.data(), b"cde");
        rx.filled(usize::MAX); // a transport that lies
        assert_eq!(rx.data().len(), 8);
    }

    #[test]
    fn tx_queues_in_order_and_makes_room_by_shifting() {
        let mut tx = TxQueue::new([0u8; 8]);
        assert!(tx.push_bytes(b"12345"));
        tx.consume(3);
        assert_eq!(tx.pending(), b"45");
        assert!(
            tx.push_bytes(b"678901"),
            "the written bytes' room is reused"
        );
        assert_eq!(tx.pending(), b"45678901");
        assert!(!tx.push_bytes(b"x"), "full: nothing changes");
        tx.consume(usize::MAX);
        assert!(tx.pending().is_empty());
        assert_eq!(
            tx.push_packet(&Packet::Pingreq)
                .map(|_| tx.pending().to_vec()),
            Ok(std::vec![0xC0, 0])
        );
        assert!(!TxQueue::new([0u8; 8]).push_bytes(&[0u8; 9]));
    }
}
