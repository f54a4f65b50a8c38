//! Payloads larger than a buffer (feature `streaming`): an inbound PUBLISH larger than rx
//! handed out in pieces, and an outbound one whose payload the caller writes itself.

use super::*;

/// The core's streaming state (feature `streaming`).
#[derive(Debug, Default)]
pub(super) struct Streaming {
    /// The inbound PUBLISH being streamed, if any.
    pub(super) inbound: Option<Inbound>,
    /// Payload bytes of rx handed out in the last chunk (start, length), dropped at the next
    /// call.
    pub(super) rx_chunk: Option<(usize, usize)>,
    /// Bytes of a streamed outbound payload still to be written after the head in tx;
    /// nothing else is processed or queued meanwhile.
    pub(super) payload_due: usize,
    /// The QoS 1/2 message whose payload is due: dropped from the session if the connection
    /// ends first (the broker never got it whole; the caller hears the error).
    pub(super) payload_pid: Option<PacketId>,
}

/// An inbound PUBLISH larger than rx, being streamed: its head stays at the front of rx.
#[derive(Debug, Clone, Copy)]
pub(super) struct Inbound {
    pub(super) head_len: usize,
    pub(super) payload_len: usize,
    /// Payload bytes handed out (or skipped) so far.
    pub(super) done: usize,
    pub(super) qos: QosPid,
    /// A QoS 2 message already received: read and dropped, acknowledged again.
    pub(super) duplicate: bool,
}

impl<B: Buffer> Core<B> {
    /// A PUBLISH larger than rx begins: streams it if its head fits with room behind it.
    pub(super) fn start_stream(
        &mut self,
        data: &[u8],
        capacity: usize,
        too_large: BrokerError,
    ) -> Result<Step, Error> {
        match decode_head(data).map_err(BrokerError::Malformed)? {
            Some(head) if head.head_len < capacity => {
                let qos = head.publish.qos;
                let duplicate = self.received_before(qos);
                self.streaming.inbound = Some(Inbound {
                    head_len: head.head_len,
                    payload_len: head.payload_len,
                    done: 0,
                    qos,
                    duplicate,
                });
                self.stream(data, capacity)
            }
            // rx too small for even the head.
            Some(_) => Err(too_large.into()),
            // Its head is still coming (and cannot fit: refused once rx is full).
            None if data.len() >= capacity => Err(too_large.into()),
            None => Ok(Step::Idle),
        }
    }

    /// One step of a streamed PUBLISH: hands out the payload bytes in rx once rx is full or
    /// they end the message; with the last piece, queues the acknowledgement (before the
    /// piece is handed out, like a whole message's).
    pub(super) fn stream(&mut self, data: &[u8], capacity: usize) -> Result<Step, Error> {
        let Some(mut s) = self.streaming.inbound else {
            return Ok(Step::Continue);
        };
        let present = data.len().saturating_sub(s.head_len);
        let left = s.payload_len.saturating_sub(s.done);
        let len = present.min(left);
        let last = len == left;
        if !last && data.len() < capacity {
            return Ok(Step::Idle); // bigger pieces: wait until rx is full
        }
        let offset = s.done;
        if last {
            self.acknowledge(s.qos, s.duplicate)?;
            self.streaming.inbound = None;
            self.rx_consumed = s.head_len + len;
        } else {
            s.done += len;
            self.streaming.inbound = Some(s);
            self.streaming.rx_chunk = Some((s.head_len, len));
        }
        if s.duplicate {
            return Ok(Step::Continue); // acknowledged, not delivered twice (MQTT-4.3.3-2)
        }
        Ok(Step::Ready(Ready::Chunk { offset, len }))
    }

    /// True when a session snapshot is due (false without the feature).
    pub(super) fn save_first(&self) -> bool {
        #[cfg(feature = "persistence")]
        return self.save_due();
        #[cfg(not(feature = "persistence"))]
        false
    }

    /// Forgets a streamed message half received (it is redelivered) or half sent (the broker
    /// never got it whole: it leaves the session; its caller has the error).
    pub(super) fn abandon_streams(&mut self) {
        self.streaming.inbound = None;
        self.streaming.payload_due = 0;
        if let Some(pid) = self.streaming.payload_pid.take() {
            if let Some(e) = self.store.find(pid, Kinds::OURS) {
                self.store.remove(&e);
            }
        }
    }

    /// See [`Client::publish_head`].
    pub(super) fn publish_head(
        &mut self,
        topic: TopicName<'_>,
        len: usize,
        qos: QoS,
        retain: bool,
    ) -> nb::Result<Option<PacketId>, Error> {
        self.usable()?;
        self.fill_tx();
        if !self.tx.pending().is_empty() || self.store.counts().unsent > 0 {
            return busy(); // the head goes out alone, after everything queued
        }
        let kind = match qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => Some(Kind::AwaitPuback),
            QoS::ExactlyOnce => Some(Kind::AwaitPubrec),
        };
        let mut head = Publish {
            dup: false,
            qos: match kind {
                None => QosPid::AtMostOnce,
                Some(_) => QosPid::AtLeastOnce(PacketId(core::num::NonZeroU16::MIN)),
            },
            retain,
            topic,
            payload: &[],
        };
        let (remaining, head_len) = head.head_len(len);
        let too_large = CallerError::PacketTooLarge {
            size: head_len.saturating_add(len),
            capacity: self.tx.capacity(),
        };
        if head_len > self.tx.capacity() || remaining > crate::packet::MAX_REMAINING_LENGTH {
            return Err(Error::from(too_large).into());
        }
        if let Some(kind) = kind {
            let size = head_len + ENTRY_OVERHEAD;
            let capacity = self.store.capacity();
            if size > capacity {
                return Err(Error::from(CallerError::MessageTooLarge { size, capacity }).into());
            }
            if self.store.counts().publishes >= usize::from(self.settings.max_inflight)
                || self.store.free() < size
            {
                return busy();
            }
            let pid = self.allocate_pid()?;
            head.qos = match kind {
                Kind::AwaitPuback => QosPid::AtLeastOnce(pid),
                _ => QosPid::ExactlyOnce(pid),
            };
            let flags = self.new_flags(STREAMED);
            if !self.store.push_with(kind, flags, pid, head_len, |dst| {
                head.encode_head(len, dst).is_ok()
            }) {
                return busy();
            }
        }
        if !self
            .tx
            .push_with(head_len, |dst| head.encode_head(len, dst).is_ok())
        {
            return busy(); // cannot happen: tx is empty and the head fits
        }
        self.streaming.payload_due = len;
        // With no payload the head is the whole message: nothing to abandon.
        self.streaming.payload_pid = if len > 0 { head.qos.pid() } else { None };
        Ok(head.qos.pid())
    }
}

impl<B: Buffer> Client<B> {
    /// Starts a PUBLISH whose `len`-byte payload the caller writes itself, straight from its
    /// source (feature `streaming`; drivers: `publish_from`): queues the head (fixed header,
    /// topic, packet id). Once [`Client::poll_transmit`] has given it out, fill
    /// [`Client::payload_space`] and report each part written with
    /// [`Client::payload_written`] until `len` bytes went out; nothing else is processed or
    /// queued meanwhile. `WouldBlock` until everything queued before it was written.
    ///
    /// The payload is not kept: a QoS 1/2 message that the connection loses after its
    /// payload was written but before its PUBACK / PUBREC is reported [`Lost::Streamed`] after
    /// the next CONNACK (even a resumed session cannot resend it): publish it again from its
    /// source (at QoS 2 the broker may have it already: it may then arrive twice). Keep the
    /// source until [`Event::Published`] (or that `Lost`). A connection lost while the payload
    /// is still due drops the message from the session: the broker never got it whole, and
    /// the caller has the error. In the async driver, `publish_from` cancelled mid-payload
    /// closes the connection at the next call ([`CallerError::PayloadCancelled`]).
    pub fn publish_head(
        &mut self,
        topic: TopicName<'_>,
        len: usize,
        qos: QoS,
        retain: bool,
    ) -> nb::Result<Option<PacketId>, Error> {
        self.settle();
        self.core.publish_head(topic, len, qos, retain)
    }

    /// Where to put the next bytes of a streamed payload (see [`Client::publish_head`]): the
    /// free tx space, at most the bytes still due. Empty when none are due.
    pub fn payload_space(&mut self) -> &mut [u8] {
        let due = self.core.streaming.payload_due;
        let space = self.core.tx.space();
        let n = space.len().min(due);
        space.get_mut(..n).unwrap_or_default()
    }

    /// `n` payload bytes (from [`Client::payload_space`]) were written to the transport at
    /// `now`.
    pub fn payload_written(&mut self, n: usize, now: u64) {
        self.core.streaming.payload_due = self.core.streaming.payload_due.saturating_sub(n);
        if self.core.streaming.payload_due == 0 {
            self.core.streaming.payload_pid = None;
            // A PINGRESP may have waited unread behind the payload: the link just carried it,
            // so the answer gets its full time again.
            if self.core.ping_sent.is_some() {
                self.core.ping_sent = Some(now);
            }
        }
        if n > 0 {
            self.core.last_sent = now;
        }
    }

    /// Payload bytes of a streamed PUBLISH still to write (0: none).
    pub fn payload_due(&self) -> usize {
        self.core.streaming.payload_due
    }
}
