//! What the core sends of its own: publishes, (un)subscribes and the resubscribe, the
//! packet identifiers, moving the session's unsent packets into tx, and the event for an
//! entry the session lost.

use super::*;

impl<B: Buffer> Core<B> {
    /// The flag an entry of ours gets when it is added: `UNSAVED` while sessions are
    /// persisted.
    pub(super) fn new_flags(&self, flags: u8) -> u8 {
        #[cfg(feature = "persistence")]
        if self.settings.persist {
            return flags | UNSAVED;
        }
        flags
    }

    /// An unused packet identifier of ours (MQTT-2.3.1-2); `WouldBlock` while all 65,535 are
    /// outstanding. Constant time, amortized: one walk of the store counts how many ids
    /// after `next_pid` no entry holds (`free_pids`, counting 0 as one of them), and those
    /// are handed out without looking again — with `w` in flight, one walk per 65,535 − `w`.
    pub(super) fn allocate_pid(&mut self) -> nb::Result<PacketId, Error> {
        for _ in 0..=u16::MAX {
            let candidate = self.next_pid.wrapping_add(1);
            if self.free_pids == 0 {
                // The nearest id ahead that an entry of ours holds.
                self.free_pids = (self.store.iter())
                    .filter(|e| Kinds::OURS.contains(e.kind))
                    .map(|e| e.pid.get().wrapping_sub(candidate))
                    .min()
                    .unwrap_or(u16::MAX);
            }
            self.next_pid = candidate;
            if let Some(left) = self.free_pids.checked_sub(1) {
                self.free_pids = left;
                if let Some(pid) = PacketId::new(candidate) {
                    return Ok(pid);
                }
            }
        }
        busy()
    }

    pub(super) fn publish(
        &mut self,
        topic: TopicName<'_>,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> nb::Result<Option<PacketId>, Error> {
        self.usable()?;
        let kind = match qos {
            QoS::AtMostOnce => {
                self.fill_tx();
                if self.store.counts().unsent > 0 {
                    return busy(); // keep send order behind queued QoS 1/2 messages
                }
                let packet = Publish {
                    dup: false,
                    qos: QosPid::AtMostOnce,
                    retain,
                    topic,
                    payload,
                };
                return match self
                    .tx
                    .push_packet(&Packet::Publish(packet))
                    .map_err(Error::from)?
                {
                    true => Ok(None),
                    false => busy(),
                };
            }
            QoS::AtLeastOnce => Kind::AwaitPuback,
            QoS::ExactlyOnce => Kind::AwaitPubrec,
        };
        // The identifier is chosen once the message is known to fit: its length does not
        // depend on it.
        let mut message = Publish {
            dup: false,
            qos: QosPid::AtLeastOnce(PacketId(core::num::NonZeroU16::MIN)),
            retain,
            topic,
            payload,
        };
        let len = Packet::Publish(message).encoded_len();
        let capacity = self.tx.capacity();
        if len > capacity || too_large(len) {
            return Err(Error::from(CallerError::PacketTooLarge {
                size: len,
                capacity,
            })
            .into());
        }
        let size = len + ENTRY_OVERHEAD;
        let capacity = self.store.capacity();
        if size > capacity {
            return Err(Error::from(CallerError::MessageTooLarge { size, capacity }).into());
        }
        if self.store.counts().publishes >= usize::from(self.settings.max_inflight) {
            return busy();
        }
        let pid = self.allocate_pid()?;
        message.qos = if kind == Kind::AwaitPuback {
            QosPid::AtLeastOnce(pid)
        } else {
            QosPid::ExactlyOnce(pid)
        };
        let packet = Packet::Publish(message);
        let flags = self.new_flags(UNSENT);
        if self.store.free() < size
            || !self
                .store
                .push_with(kind, flags, pid, len, |dst| packet.encode(dst).is_ok())
        {
            return busy();
        }
        self.fill_tx();
        Ok(Some(pid))
    }

    /// Operations need a live connection (not one being disconnected) and no streamed payload
    /// half written. A save that failed since the last call is said first.
    pub(super) fn usable(&mut self) -> nb::Result<(), Error> {
        self.save_error()?;
        #[cfg(feature = "streaming")]
        if self.streaming.payload_due > 0 {
            return busy();
        }
        match self.state {
            State::Connected => Ok(()),
            _ => Err(nb::Error::Other(LinkError::NotConnected.into())),
        }
    }

    /// Sends a SUBSCRIBE (see [`Client::subscribe`]).
    pub(super) fn subscribe(
        &mut self,
        subscriptions: &[Subscription<'_>],
    ) -> nb::Result<PacketId, Error> {
        let filters = SubscribeFilters::new(subscriptions).map_err(|_| filter_count())?;
        let count = u16::try_from(subscriptions.len()).map_err(|_| filter_count())?;
        self.request(Kind::AwaitSuback, &count.to_be_bytes(), |pid| {
            Packet::Subscribe(Subscribe { pid, filters })
        })
    }

    /// Sends a SUBSCRIBE or UNSUBSCRIBE and records it as awaiting its answer.
    pub(super) fn request<'p>(
        &mut self,
        kind: Kind,
        body: &[u8],
        packet: impl FnOnce(PacketId) -> Packet<'p>,
    ) -> nb::Result<PacketId, Error> {
        self.usable()?;
        if self.store.free() < ENTRY_OVERHEAD + body.len() {
            return busy();
        }
        let pid = self.allocate_pid()?;
        if !self.tx.push_packet(&packet(pid)).map_err(Error::from)? {
            return busy();
        }
        // Room was checked above.
        let flags = self.new_flags(0);
        self.store.push(kind, flags, pid, body);
        Ok(pid)
    }

    /// Moves QoS 1/2 PUBLISH and PUBREL packets that still have to be (re)sent into the tx
    /// buffer, in store order, as far as they fit.
    pub(super) fn fill_tx(&mut self) {
        #[cfg(feature = "streaming")]
        if self.streaming.payload_due > 0 {
            return; // nothing between a streamed head and its payload
        }
        let sending = match self.state {
            State::Connected => true,
            State::Disconnecting => self.drain_until.is_some(),
            State::Closed | State::Connecting => false,
        };
        if !sending || self.store.counts().unsent == 0 {
            return;
        }
        let mut offset = self.store.first_unsent();
        while let Some(e) = self.store.entry_at(offset) {
            if e.flags & UNSENT != 0 {
                let pushed = match e.kind {
                    Kind::AwaitPuback | Kind::AwaitPubrec => {
                        self.tx.push_bytes(self.store.body(&e))
                    }
                    Kind::AwaitPubcomp => {
                        self.tx.push_packet(&Packet::Pubrel(e.pid)).unwrap_or(false)
                    }
                    _ => true,
                };
                if !pushed {
                    break;
                }
                self.store.set_flags(&e, e.flags & !UNSENT);
            }
            offset = e.end();
        }
        self.store.sent_up_to(offset);
    }

    /// The event for a lost store entry.
    pub(super) fn lost(&self, e: Entry) -> Lost<'_> {
        let pid = e.pid;
        #[cfg(feature = "streaming")]
        if e.flags & STREAMED != 0 {
            return Lost::Streamed { pid };
        }
        match e.kind {
            // Our own PUBLISH; decoded as the broker's packets are (PUBLISH goes both ways), so
            // the client needs one copy of the decoder.
            Kind::AwaitPuback | Kind::AwaitPubrec => {
                match decode_from(self.store.body(&e), Sender::Server) {
                    Ok(Status::Complete {
                        packet: Packet::Publish(mut message),
                        ..
                    }) => {
                        message.dup = false;
                        Lost::Message { pid, message }
                    }
                    _ => Lost::Released { pid },
                }
            }
            Kind::AwaitSuback => Lost::Subscribe { pid },
            Kind::AwaitUnsuback => Lost::Unsubscribe { pid },
            Kind::AwaitPubcomp | Kind::Inbound => Lost::Released { pid },
        }
    }

    /// Sends the SUBSCRIBE of [`ConnectOptions::resubscribe`] (kept encoded in the store's
    /// prefix) with a fresh packet identifier.
    pub(super) fn resubscribe(&mut self) -> nb::Result<(), Error> {
        self.usable()?;
        let count = self.settings.resubscribe_count.to_be_bytes();
        if self.store.free() < ENTRY_OVERHEAD + count.len() {
            return busy();
        }
        let pid = self.allocate_pid()?;
        let start = self.settings.connect_len;
        let template = self
            .store
            .prefix(start..start + self.settings.resubscribe_len);
        let at = self.settings.resubscribe_pid_at;
        if !self.tx.push_with(template.len(), |dst| {
            dst.copy_from_slice(template);
            match dst.get_mut(at..at + 2) {
                Some(id) => id.copy_from_slice(&pid.get().to_be_bytes()),
                None => return false,
            }
            true
        }) {
            return busy();
        }
        let flags = self.new_flags(0);
        self.store.push(Kind::AwaitSuback, flags, pid, &count); // room was checked above
        Ok(())
    }
}
