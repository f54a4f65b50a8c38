//! What the core does with each packet from the broker: the CONNACK that resumes or resets
//! the session, and the rule for unknown identifiers.

use super::*;

impl<B: Buffer> Core<B> {
    /// See [`Client::session_resumed`]: the one place of the rule.
    pub(super) fn session_resumed(&self) -> bool {
        self.session_present && !self.settings.clean_session
    }

    /// CONNACK accepted: resume the session (resend in the original order with DUP = 1,
    /// MQTT-4.4.0-1, MQTT-4.6.0-1) or mark everything outstanding as lost.
    pub(super) fn on_connack(&mut self, session_present: bool) {
        self.session_present = session_present;
        let resume = self.session_resumed();
        if !resume {
            self.store.release_all();
        }
        let (mut resent, mut lost) = (0u32, 0u32);
        let mut offset = self.store.first();
        while let Some(e) = self.store.entry_at(offset) {
            offset = e.end();
            #[cfg(feature = "streaming")]
            if e.flags & STREAMED != 0 {
                if e.flags & LOST == 0 {
                    lost += 1;
                }
                self.store.set_flags(&e, LOST | STREAMED); // no payload to resend
                continue;
            }
            let flags = match e.kind {
                Kind::AwaitPuback | Kind::AwaitPubrec | Kind::AwaitPubcomp if resume => {
                    if e.flags & UNSENT == 0 && e.kind != Kind::AwaitPubcomp {
                        set_dup(self.store.body_mut(&e));
                    }
                    resent += 1;
                    UNSENT
                }
                Kind::Inbound => e.flags,
                _ => {
                    if e.flags & LOST == 0 {
                        lost += 1; // not counted again when reported before
                    }
                    LOST
                }
            };
            self.store.set_flags(&e, flags);
        }
        info!(
            "connected (session present {}): {} to resend",
            session_present, resent
        );
        if lost > 0 {
            warn!("the broker kept no session: {} operations lost", lost);
        }
        self.state = State::Connected;
        let owed = !resume || self.resubscribe_owed;
        self.resubscribe_pending = owed && self.settings.resubscribe_len > 0;
    }

    /// The store entry of `kind` that `ack` answers; an acknowledgement for nothing outstanding
    /// is a protocol violation.
    pub(super) fn awaiting(
        &self,
        kind: Kind,
        ack: &Packet<'_>,
        pid: PacketId,
    ) -> Result<Entry, Error> {
        self.store
            .find(pid, Kinds::of(kind))
            .ok_or_else(|| unknown_id(ack, pid))
    }

    /// True for a QoS 2 message whose id still awaits its PUBREL: received before.
    pub(super) fn received_before(&self, qos: QosPid) -> bool {
        match qos {
            QosPid::ExactlyOnce(pid) => self.store.held(pid),
            _ => false,
        }
    }

    /// Acknowledges a message from the broker, whole or streamed, as it is handed out:
    /// PUBACK (after the application's state, saved with the session, counts it), or for
    /// QoS 2 the id tracked until PUBREL (unless `duplicate`) and PUBREC. The one place of
    /// the rule for both.
    pub(super) fn acknowledge(&mut self, qos: QosPid, duplicate: bool) -> Result<(), Error> {
        match qos {
            QosPid::AtMostOnce => {}
            QosPid::AtLeastOnce(pid) => {
                self.tx.push_packet(&Packet::Puback(pid))?;
                #[cfg(feature = "persistence")]
                self.store.touch();
            }
            QosPid::ExactlyOnce(pid) => {
                if !duplicate && !self.store.hold(pid) {
                    return Err(BrokerError::StoreFull.into());
                }
                self.tx.push_packet(&Packet::Pubrec(pid))?;
            }
        }
        Ok(())
    }

    pub(super) fn on_packet(&mut self, packet: Packet<'_>) -> Result<Option<Ready>, Error> {
        let unexpected =
            |p: &Packet<'_>| Error::from(BrokerError::UnexpectedPacket(p.packet_type()));
        if self.state == State::Connecting {
            let Packet::Connack(ack) = packet else {
                return Err(unexpected(&packet));
            };
            if ack.code != crate::packet::ConnectReturnCode::Accepted {
                warn!("connection refused: {:?}", ack.code);
                return Err(BrokerError::Refused(ack.code).into());
            }
            self.on_connack(ack.session_present);
            return Ok(Some(Ready::Connected {
                session_present: ack.session_present,
            }));
        }
        match packet {
            Packet::Publish(p) => {
                let duplicate = self.received_before(p.qos);
                self.acknowledge(p.qos, duplicate)?;
                match duplicate {
                    true => Ok(None), // acknowledged, not delivered twice (MQTT-4.3.3-2)
                    false => Ok(Some(Ready::FromRx)),
                }
            }
            // The end of a QoS 1 (PUBACK) or QoS 2 (PUBCOMP) delivery: the id is free again.
            Packet::Puback(pid) | Packet::Pubcomp(pid) => {
                let (kind, qos) = match packet {
                    Packet::Puback(_) => (Kind::AwaitPuback, QoS::AtLeastOnce),
                    _ => (Kind::AwaitPubcomp, QoS::ExactlyOnce),
                };
                let e = self.awaiting(kind, &packet, pid)?;
                self.store.remove(&e);
                Ok(Some(Ready::Published { pid, qos }))
            }
            Packet::Pubrec(pid) => {
                if let Some(e) = self.store.find(pid, Kinds::of(Kind::AwaitPubrec)) {
                    // Drop the message (never resent after PUBREL, MQTT-4.3.3-1) and queue
                    // PUBREL behind earlier ones, in PUBREC order (MQTT-4.6.0-4).
                    self.store.remove(&e);
                    self.store.push(Kind::AwaitPubcomp, UNSENT, pid, &[]);
                } else if let Some(e) = self.store.find(pid, Kinds::of(Kind::AwaitPubcomp)) {
                    self.store.set_flags(&e, UNSENT);
                } else {
                    return Err(unknown_id(&packet, pid));
                }
                self.fill_tx();
                Ok(None)
            }
            Packet::Pubrel(pid) => {
                self.store.release(pid);
                self.tx.push_packet(&Packet::Pubcomp(pid))?;
                Ok(None)
            }
            Packet::Suback(ack) => {
                let pid = ack.pid;
                let e = self.awaiting(Kind::AwaitSuback, &packet, pid)?;
                let count = match self.store.body(&e) {
                    &[hi, lo] => usize::from(u16::from_be_bytes([hi, lo])),
                    _ => 0,
                };
                if ack.codes.len() != count {
                    return Err(BrokerError::SubackCountMismatch.into());
                }
                self.store.remove(&e);
                Ok(Some(Ready::FromRx))
            }
            Packet::Unsuback(pid) => {
                let e = self.awaiting(Kind::AwaitUnsuback, &packet, pid)?;
                self.store.remove(&e);
                Ok(Some(Ready::Unsubscribed { pid }))
            }
            Packet::Pingresp => {
                self.ping_sent = None;
                Ok(None)
            }
            Packet::Connack(_)
            | Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::Pingreq
            | Packet::Disconnect => Err(unexpected(&packet)),
        }
    }
}
