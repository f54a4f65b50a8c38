//! The client's state: where the connection stands ([`State`]), what one step achieved
//! ([`Progress`]), the events found but not yet handed out, the settings kept of
//! [`ConnectOptions`], and the [`Core`] with its one step, [`Core::advance`].

use super::*;

/// The longest packet the core queues in answer to an inbound one (PUBACK, PUBREC, PUBREL,
/// PUBCOMP: 4 bytes). Inbound packets wait while the tx buffer has less room than this.
const ACK_LEN: usize = 4;

/// A busy answer: the operation needs room that driving the connection will free.
pub(super) fn busy<T>() -> nb::Result<T, Error> {
    Err(nb::Error::WouldBlock)
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// No connection: before [`Client::connect`], after an error, or after a disconnect.
    Closed,
    /// CONNECT queued; waiting for CONNACK.
    Connecting,
    /// CONNACK accepted; the session is live.
    Connected,
    /// [`Client::disconnect`] was called: inbound QoS 2 exchanges still open are completed
    /// (within the response timeout), then DISCONNECT is queued and nothing more is sent on
    /// this connection (MQTT-3.14.4-2).
    Disconnecting,
}

/// What one [`Client::advance`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Progress {
    /// An event is ready: take it with [`Client::event`].
    Event,
    /// Something was done without an event (an acknowledgement processed, a PINGREQ queued):
    /// write what [`Client::poll_transmit`] has and advance again.
    Continue,
    /// Nothing more can happen without new bytes from the transport, room in the tx buffer,
    /// or time passing (see [`Client::next_deadline`]).
    Idle,
}

/// An event found by [`Client::advance`], without borrows; [`Client::event`] builds the
/// borrowed [`Event`] from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ready {
    Connected {
        session_present: bool,
    },
    /// A PUBLISH or SUBACK occupying the first bytes of rx.
    FromRx,
    Published {
        pid: PacketId,
        qos: QoS,
    },
    Unsubscribed {
        pid: PacketId,
    },
    /// The lost store entry of ours with this packet id (an id, not an offset: a publish
    /// made before the event is taken may move the entries).
    Lost(PacketId),
    /// A piece of the streamed PUBLISH whose head occupies the first bytes of rx: `len`
    /// payload bytes behind the head, at `offset` in the payload.
    #[cfg(feature = "streaming")]
    Chunk {
        offset: usize,
        len: usize,
    },
    /// The session changed (up to this change count): save it before anything goes out.
    #[cfg(feature = "persistence")]
    SaveSession(u32),
    Disconnected,
}

/// The core's answer to one advance.
pub(super) enum Step {
    Ready(Ready),
    Continue,
    Idle,
}

/// What the core keeps of [`ConnectOptions`]: the numbers, and where in the store's prefix
/// the encoded CONNECT and resubscribe SUBSCRIBE are.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) keep_alive_secs: u16,
    pub(super) clean_session: bool,
    pub(super) response_timeout_ms: u32,
    pub(super) max_inflight: u16,
    /// The CONNECT's length: prefix bytes `0..connect_len`.
    pub(super) connect_len: usize,
    /// The resubscribe SUBSCRIBE's length (0: none), after the CONNECT; its filter count; and
    /// where its packet identifier is.
    pub(super) resubscribe_len: usize,
    pub(super) resubscribe_count: u16,
    pub(super) resubscribe_pid_at: usize,
    /// `ConnectOptions::stream_oversized` (feature `streaming`).
    #[cfg(feature = "streaming")]
    pub(super) stream_oversized: bool,
    /// `ConnectOptions::persist_session` (feature `persistence`).
    #[cfg(feature = "persistence")]
    pub(super) persist: bool,
    /// Which client and options a session snapshot belongs to: CRC-32 of the store's prefix
    /// without the password (feature `persistence`).
    #[cfg(feature = "persistence")]
    pub(super) identity: u32,
}

/// Everything but the rx buffer. Its methods live by role:
/// - one step of the state machine, closing: [`Core::advance`], `close` (here);
/// - what each packet from the broker does: `on_packet`, `on_publish`, `acknowledge`, … (`inbound.rs`);
/// - what we send: `publish`, `subscribe`, `request`, `resubscribe`, `fill_tx`, packet ids,
///   lost entries (`outbound.rs`);
/// - keep-alive and timeouts: `timers`, `next_deadline` (`timers.rs`);
/// - the features' parts: `streaming.rs` (`start_stream`, `stream`, `publish_head`) and
///   `saving.rs` (`save_due`, `save_failed`).
pub(super) struct Core<B> {
    pub(super) settings: Settings,
    pub(super) state: State,
    pub(super) tx: TxQueue<B>,
    pub(super) store: Store<B>,
    pub(super) next_pid: u16,
    /// The ids after `next_pid` that no entry of ours holds (0: not known; count again).
    pub(super) free_pids: u16,
    /// The event [`Client::advance`] found, until the next call that changes the client.
    pub(super) ready: Option<Ready>,
    /// Bytes of rx handed out with the last event, dropped at the next call.
    pub(super) rx_consumed: usize,
    /// The connection closed on an error: rx is cleared at the next call.
    pub(super) rx_reset: bool,
    pub(super) connack_deadline: u64,
    /// While disconnecting, until DISCONNECT is queued (nothing may follow it, MQTT-3.14.4-2):
    /// when it goes out even if inbound QoS 2 is still open.
    pub(super) drain_until: Option<u64>,
    pub(super) last_sent: u64,
    /// When the PINGREQ now awaiting its PINGRESP was due.
    pub(super) ping_sent: Option<u64>,
    /// That PINGREQ did not fit tx yet.
    pub(super) ping_unqueued: bool,
    /// [`ConnectOptions::resubscribe`] is still to be sent on this connection.
    pub(super) resubscribe_pending: bool,
    /// A resubscribe SUBSCRIBE was dropped unsent (its save failed): the next connection sends
    /// it whatever the broker's session holds.
    pub(super) resubscribe_owed: bool,
    /// The last accepted CONNACK's session_present.
    pub(super) session_present: bool,
    /// The two directions of payloads larger than a buffer.
    #[cfg(feature = "streaming")]
    pub(super) streaming: streaming::Streaming,
    /// Where the session's snapshots stand.
    #[cfg(feature = "persistence")]
    pub(super) saving: saving::Saving,
}

impl<B: Buffer> Core<B> {
    /// See [`Client::advance`].
    pub(super) fn advance(&mut self, rx: &RxBuffer<B>, now: u64) -> Result<Step, Error> {
        self.save_error()?;
        #[cfg(feature = "persistence")]
        if self.save_due() {
            return Ok(Step::Ready(Ready::SaveSession(self.store.changes())));
        }
        match self.state {
            State::Closed => return Ok(Step::Idle),
            State::Disconnecting => match self.drain_until {
                None if self.tx.pending().is_empty() => {
                    self.close();
                    return Ok(Step::Ready(Ready::Disconnected));
                }
                None => return Ok(Step::Idle),
                Some(deadline) => {
                    let open = self.store.inbound() > 0;
                    if !open || now >= deadline {
                        if self.tx.push_packet(&Packet::Disconnect)? {
                            self.drain_until = None;
                            return Ok(Step::Continue);
                        }
                        return Ok(Step::Idle); // written out first
                    }
                }
            },
            State::Connecting | State::Connected => {}
        }
        if self.timers(now)? {
            return Ok(Step::Continue);
        }
        if self.state == State::Connected {
            if self.store.counts().lost > 0 {
                if let Some(e) = self.store.iter().find(|e| e.flags & LOST != 0) {
                    return Ok(Step::Ready(Ready::Lost(e.pid)));
                }
            }
            if self.resubscribe_pending {
                match self.resubscribe() {
                    Err(nb::Error::WouldBlock) => {} // retried once acknowledgements free room
                    Err(nb::Error::Other(e)) => {
                        self.resubscribe_pending = false;
                        return Err(e);
                    }
                    Ok(()) => {
                        self.resubscribe_pending = false;
                        self.resubscribe_owed = false;
                        return Ok(Step::Continue);
                    }
                }
            }
        }
        self.fill_tx();
        if self.tx.free() < ACK_LEN {
            return Ok(Step::Idle);
        }
        let data = rx.data();
        #[cfg(feature = "streaming")]
        if self.streaming.inbound.is_some() {
            return self.stream(data, rx.capacity());
        }
        match decode_from(data, Sender::Server) {
            Ok(Status::Partial { needed }) => {
                let size = data.len().saturating_add(needed);
                if size <= rx.capacity() {
                    return Ok(Step::Idle);
                }
                let too_large = BrokerError::PacketTooLarge {
                    size,
                    capacity: rx.capacity(),
                };
                // Only a PUBLISH streams: anything else this large is refused at its header.
                #[cfg(feature = "streaming")]
                if self.settings.stream_oversized && data.first().map(|b| b >> 4) == Some(3) {
                    return self.start_stream(data, rx.capacity(), too_large);
                }
                Err(too_large.into())
            }
            Ok(Status::Complete { packet, len }) => {
                self.rx_consumed = len;
                Ok(match self.on_packet(packet)? {
                    Some(ready) => Step::Ready(ready),
                    None => Step::Continue,
                })
            }
            // A packet only clients send: the same violation as any other unexpected packet.
            Err(DecodeError::WrongSender(t)) => Err(BrokerError::UnexpectedPacket(t).into()),
            Err(e) => Err(BrokerError::Malformed(e).into()),
        }
    }

    /// [`CallerError::SessionNotSaved`] (once) after a save failed.
    pub(super) fn save_error(&mut self) -> Result<(), Error> {
        #[cfg(feature = "persistence")]
        if core::mem::take(&mut self.saving.error) {
            return Err(CallerError::SessionNotSaved.into());
        }
        Ok(())
    }

    /// Ends the connection; the session store stays.
    pub(super) fn close(&mut self) {
        #[cfg(feature = "streaming")]
        self.abandon_streams();
        self.state = State::Closed;
        self.tx.clear();
        self.rx_reset = true;
        self.ping_sent = None;
        self.ping_unqueued = false;
        self.resubscribe_pending = false;
    }
}

/// The error for an acknowledgement of a packet identifier with nothing outstanding.
pub(super) fn unknown_id(ack: &Packet<'_>, pid: PacketId) -> Error {
    BrokerError::UnknownPacketId(ack.packet_type(), pid).into()
}

/// The error for a SUBSCRIBE or UNSUBSCRIBE with no filters or more than 65,535.
pub(super) fn filter_count() -> nb::Error<Error> {
    nb::Error::Other(CallerError::FilterCount.into())
}
