//! Payloads larger than a buffer (feature `streaming`): an inbound PUBLISH larger than rx
//! handed out in pieces, and an outbound one whose payload the caller writes itself.

use super::*;

impl<B: Buffer> Core<B> {
    /// A PUBLISH larger than rx begins: streams it if its head fits with room behind it.
    #[cfg(feature = "streaming")]
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
                self.streaming = Some(Streaming {
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
    #[cfg(feature = "streaming")]
    pub(super) fn stream(&mut self, data: &[u8], capacity: usize) -> Result<Step, Error> {
        let Some(mut s) = self.streaming else {
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
            self.streaming = None;
            self.rx_consumed = s.head_len + len;
        } else {
            s.done += len;
            self.streaming = Some(s);
            self.rx_chunk = Some((s.head_len, len));
        }
        if s.duplicate {
            return Ok(Step::Continue); // acknowledged, not delivered twice (MQTT-4.3.3-2)
        }
        Ok(Step::Ready(Ready::Chunk { offset, len }))
    }

    /// True when a session snapshot is due (false without the feature).
    #[cfg(feature = "streaming")]
    pub(super) fn saving(&self) -> bool {
        #[cfg(feature = "persistence")]
        return self.save_due();
        #[cfg(not(feature = "persistence"))]
        false
    }

    /// Forgets a streamed message half received (it is redelivered) or half sent (the broker
    /// never got it whole: it leaves the session; its caller has the error).
    #[cfg(feature = "streaming")]
    pub(super) fn abandon_streams(&mut self) {
        self.streaming = None;
        self.payload_due = 0;
        if let Some(pid) = self.payload_pid.take() {
            if let Some(e) = self.store.find(pid, Kinds::OURS) {
                self.store.remove(&e);
            }
        }
    }

    /// See [`Client::publish_head`].
    #[cfg(feature = "streaming")]
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
            let capacity = self.store.capacity().saturating_sub(self.full_reserve());
            if size > capacity {
                return Err(Error::from(CallerError::MessageTooLarge { size, capacity }).into());
            }
            if self.store.counts().publishes >= usize::from(self.settings.max_inflight)
                || self.store.free() < size + self.reserve()
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
        self.payload_due = len;
        // With no payload the head is the whole message: nothing to abandon.
        self.payload_pid = if len > 0 { head.qos.pid() } else { None };
        Ok(head.qos.pid())
    }
}
