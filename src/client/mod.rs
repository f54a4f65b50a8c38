//! The sans-IO MQTT client: a state machine fed bytes and the time, asked for bytes to send.
//!
//! Most programs only build a [`Client`] here (with [`ConnectOptions`]) and hand it to a
//! driver ([`crate::Blocking`], [`crate::NonBlocking`], [`crate::Async`]).
//!
//! ## Writing a driver
//!
//! [`Client`] never touches a socket or a clock. A driver moves bytes between it and a
//! transport:
//!
//! 1. write [`Client::poll_transmit`]'s bytes to the transport and report how many went out
//!    with [`Client::transmitted`];
//! 2. read into [`Client::rx_space`] and report the count with [`Client::received`];
//! 3. call [`Client::poll`] until it returns `Ok(None)`, handling each [`Event`];
//! 4. wake up again by [`Client::next_deadline`] at the latest (keep-alive, timeouts).
//!
//! Operations that need room (a slot in the in-flight window, bytes in the tx buffer or the
//! session store) return `nb::Error::WouldBlock` when there is none: drive the connection
//! (steps 1–3) and call again. The drivers do that for you.
//!
//! ## Buffers (one sizing rule)
//!
//! All memory is the caller's, passed to [`Client::new`]:
//! - **rx** holds the largest packet you accept from the broker: topic + payload + 7 bytes
//!   covers a PUBLISH. A larger inbound packet is
//!   [`BrokerError::PacketTooLarge`] and a close.
//! - **tx** holds packets waiting to be written; it must hold the largest packet you send
//!   (topic + payload + 7 for a PUBLISH; the CONNECT with its will and credentials).
//! - **store** is the session: first the encoded CONNECT (and [`ConnectOptions::resubscribe`]
//!   SUBSCRIBE) it keeps for reconnects; then each unacknowledged QoS 1/2 message keeps its
//!   encoded PUBLISH (topic + payload + 7) plus [`ENTRY_OVERHEAD`] bytes; each pending QoS 2
//!   release, SUBSCRIBE or UNSUBSCRIBE keeps [`ENTRY_OVERHEAD`] (+2) bytes; the broker's QoS 2
//!   ids awaiting PUBREL take [`ConnectOptions::inbound_window`] × [`INBOUND_ID_BYTES`] (40
//!   bytes by default), after the prefix (past that window, [`ENTRY_OVERHEAD`] each). The
//!   rest is your in-flight window in bytes;
//!   keep it (and the `Client`) alive across reconnects to resume a persistent session.
//!
//! The three buffers share one type `B`: `Vec<u8>`, `[u8; N]` (one `N`), or `&mut [u8]`
//! (slices of any lengths: `&mut rx[..]`).

mod buffers;
mod event;
mod inbound;
mod options;
mod outbound;
#[cfg(feature = "persistence")]
pub mod persist;
#[cfg(feature = "persistence")]
mod saving;
#[cfg_attr(not(feature = "persistence"), allow(dead_code))]
pub(crate) mod session;
mod state;
mod store;
#[cfg(feature = "streaming")]
mod streaming;
mod timers;

pub use event::{Chunk, Event, Lost};
pub use options::{ConfigError, ConnectOptions, DEFAULT_MAX_INFLIGHT};
#[cfg(feature = "persistence")]
use session::SaveFailure;
pub use session::{SNAPSHOT_VERSION, Session, SnapshotError};
pub use state::{Progress, State};
pub use store::{ENTRY_OVERHEAD, INBOUND_ID_BYTES};

use state::{Core, Ready, Settings, Step, busy, filter_count, unknown_id};

use buffers::{RxBuffer, TxQueue};
#[cfg(feature = "streaming")]
use store::STREAMED;
#[cfg(feature = "persistence")]
use store::UNSAVED;
use store::{Entry, Kind, Kinds, LOST, Store, UNSENT};

use crate::error::{BrokerError, CallerError, Error, LinkError};
#[cfg(feature = "streaming")]
use crate::packet::decode_head;
use crate::packet::{
    Connect, DecodeError, Packet, PacketId, Protocol, Publish, QoS, QosPid, Sender, Status,
    Subscribe, SubscribeFilters, Subscription, Unsubscribe, UnsubscribeFilters, decode_from,
    set_dup, too_large,
};
use crate::topic::{TopicFilter, TopicName};

/// How long before the keep-alive interval ends the core asks for a PINGREQ: a quarter of the
/// interval, at most this many milliseconds. A driver that wakes up this late (a transport
/// read timeout, a polling period) still sends it in time (MQTT-3.1.2-23).
pub const KEEP_ALIVE_MARGIN_MS: u64 = 1_000;

/// Memory for a [`Client`]: any byte buffer (`Vec<u8>`, `[u8; N]`, `&mut [u8]`, …).
pub trait Buffer: AsRef<[u8]> + AsMut<[u8]> {}

impl<B: AsRef<[u8]> + AsMut<[u8]> + ?Sized> Buffer for B {}

/// The sans-IO MQTT 3.1.1 client over the caller's memory `B`. See the [module docs](self)
/// for how to drive it.
///
/// `B` is any byte buffer: `Vec<u8>` (the client owns its memory and lives in a struct with
/// no lifetime), `[u8; N]` (one `N` for the three buffers), or `&mut [u8]` (static or stack
/// buffers of any lengths on firmware).
///
/// Its methods, by family:
/// - **building and state**: [`Client::new`], [`Client::state`], [`Client::session_present`],
///   [`Client::session_resumed`], [`Client::inflight`], [`Client::all_published`],
///   [`Client::unacknowledged`];
/// - **operations** (what a program asks for): [`Client::connect`], [`Client::publish`],
///   [`Client::subscribe`], [`Client::unsubscribe`], [`Client::disconnect`],
///   [`Client::connection_lost`];
/// - **for drivers** (moving bytes and time): [`Client::poll_transmit`],
///   [`Client::transmitted`], [`Client::wants_write`], [`Client::rx_space`],
///   [`Client::received`], [`Client::next_deadline`], [`Client::poll`] and its two halves
///   [`Client::advance`] and [`Client::event`];
/// - **streamed payloads** (feature `streaming`, `streaming.rs`): `publish_head`,
///   `payload_space`, `payload_written`, `payload_due`;
/// - **sessions across a reset** (feature `persistence`, `saving.rs`): `restore_session`,
///   `save_due`.
pub struct Client<B> {
    rx: RxBuffer<B>,
    core: Core<B>,
}

impl<B: Buffer> Client<B> {
    /// A client with `options` over the caller's buffers (see the sizing rule above). The
    /// options are copied: the store keeps the encoded CONNECT (client id, will, credentials)
    /// and the [`ConnectOptions::resubscribe`] SUBSCRIBE for every reconnect.
    pub fn new(options: ConnectOptions<'_>, rx: B, tx: B, store: B) -> Result<Self, ConfigError> {
        options.validate()?;
        let connect = Packet::Connect(Connect {
            protocol: Protocol::V311,
            keep_alive: options.keep_alive_secs,
            clean_session: options.clean_session,
            client_id: options.client_id,
            will: options.will,
            login: options.login,
        });
        let subs = options.resubscribe;
        let resubscribe_count =
            u16::try_from(subs.len()).map_err(|_| ConfigError::TooManyFilters)?;
        let resubscribe = match SubscribeFilters::new(subs) {
            Ok(filters) => Some(Packet::Subscribe(Subscribe {
                pid: PacketId(core::num::NonZeroU16::MIN), // replaced at each use
                filters,
            })),
            Err(_) => None, // no filters
        };
        let connect_len = connect.encoded_len();
        let resubscribe_len = resubscribe.as_ref().map_or(0, Packet::encoded_len);
        let resubscribe_pid_at = resubscribe
            .as_ref()
            .and_then(Packet::packet_id_at)
            .unwrap_or(0);
        let largest = connect_len.max(resubscribe_len);
        if largest > tx.as_ref().len() {
            return Err(ConfigError::TxTooSmall { needed: largest });
        }
        let prefix = connect_len + resubscribe_len;
        // The inbound table, and room for a SUBSCRIBE entry (its filter count).
        let slots = usize::from(options.inbound_window);
        let table = slots.saturating_mul(INBOUND_ID_BYTES);
        let needed = (prefix + ENTRY_OVERHEAD + 2).saturating_add(table);
        let store = Store::new(store, prefix, slots, |dst| {
            let Some((c, r)) = dst.split_at_mut_checked(connect_len) else {
                return false;
            };
            connect.encode(c).is_ok() && resubscribe.is_none_or(|p| p.encode(r).is_ok())
        })
        .ok_or(ConfigError::StoreTooSmall { needed })?;
        if store.free() < ENTRY_OVERHEAD + 2 {
            return Err(ConfigError::StoreTooSmall { needed });
        }
        #[cfg(feature = "persistence")]
        let identity = saving::identity(&store, connect_len, options.login);
        Ok(Client {
            rx: RxBuffer::new(rx),
            core: Core {
                settings: Settings {
                    keep_alive_secs: options.keep_alive_secs,
                    clean_session: options.clean_session,
                    response_timeout_ms: options.response_timeout_ms,
                    max_inflight: options.max_inflight,
                    connect_len,
                    resubscribe_len,
                    resubscribe_count,
                    resubscribe_pid_at,
                    #[cfg(feature = "streaming")]
                    stream_oversized: options.stream_oversized,
                    #[cfg(feature = "persistence")]
                    persist: options.persist_session,
                    #[cfg(feature = "persistence")]
                    identity,
                },
                state: State::Closed,
                tx: TxQueue::new(tx),
                store,
                next_pid: 0,
                free_pids: 0,
                ready: None,
                rx_consumed: 0,
                rx_reset: false,
                connack_deadline: 0,
                drain_until: None,
                last_sent: 0,
                ping_sent: None,
                ping_unqueued: false,
                resubscribe_pending: false,
                resubscribe_owed: false,
                session_present: false,
                #[cfg(feature = "streaming")]
                streaming: streaming::Streaming::default(),
                #[cfg(feature = "persistence")]
                saving: saving::Saving::default(),
            },
        })
    }

    /// Applies what the previous call handed out: drops the processed rx bytes and the
    /// reported lost entry.
    fn settle(&mut self) {
        if core::mem::take(&mut self.core.rx_reset) {
            self.rx.clear();
            self.core.rx_consumed = 0;
        }
        let consumed = core::mem::take(&mut self.core.rx_consumed);
        self.rx.consume(consumed);
        #[cfg(feature = "streaming")]
        if let Some((start, n)) = self.core.streaming.rx_chunk.take() {
            self.rx.remove(start, n);
        }
        self.rx.compact();
        // An event handed out earlier is over once the client changes.
        match self.core.ready.take() {
            Some(Ready::Lost(pid)) => {
                if let Some(e) = self.core.store.find(pid, Kinds::OURS) {
                    self.core.store.remove(&e);
                }
            }
            #[cfg(feature = "persistence")]
            Some(Ready::SaveSession(changes)) => match self.core.saving.failure.take() {
                false => {
                    self.core.saving.saved = changes;
                    self.core.store.clear_flags(UNSAVED);
                }
                true => self.core.save_failed(),
            },
            _ => {}
        }
    }

    /// The connection state.
    #[must_use]
    pub fn state(&self) -> State {
        self.core.state
    }

    /// The session_present flag of the last accepted CONNACK, as the broker sent it.
    #[must_use]
    pub fn session_present(&self) -> bool {
        self.core.session_present
    }

    /// True when the last CONNACK resumed the session: session_present on a connection with
    /// clean_session = 0. A clean session is never resumed, whatever the flag says (a broker
    /// that sets it then breaks MQTT-3.2.2-1): subscriptions must be made again.
    #[must_use]
    pub fn session_resumed(&self) -> bool {
        self.core.session_resumed()
    }

    /// Starts a new connection on a fresh transport: queues CONNECT (MQTT-3.1.0-1). The
    /// session store is kept; CONNACK's session_present decides between resume and reset.
    pub fn connect(&mut self, now: u64) -> Result<(), Error> {
        self.settle();
        self.core.save_error()?; // not heard yet: said once
        self.rx.clear();
        let core = &mut self.core;
        #[cfg(feature = "streaming")]
        core.abandon_streams(); // nothing of a stream crosses into a new connection
        core.tx.clear();
        let connect = core.store.prefix(0..core.settings.connect_len);
        if !core.tx.push_bytes(connect) {
            return Err(LinkError::NotConnected.into()); // cannot happen: checked by `new`
        }
        core.state = State::Connecting;
        core.drain_until = None;
        core.connack_deadline = now.saturating_add(u64::from(core.settings.response_timeout_ms));
        core.last_sent = now;
        core.ping_sent = None;
        core.ping_unqueued = false;
        debug!(
            "CONNECT queued (keep-alive {} s, clean session {})",
            core.settings.keep_alive_secs, core.settings.clean_session
        );
        Ok(())
    }

    /// Publishes `payload` to `topic`. QoS 0 returns `None`; QoS 1/2 return the packet
    /// identifier that [`Event::Published`] will carry. `WouldBlock` means: drive the
    /// connection (write, read, poll) and try again.
    pub fn publish(
        &mut self,
        topic: TopicName<'_>,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> nb::Result<Option<PacketId>, Error> {
        self.settle();
        self.core.publish(topic, payload, qos, retain)
    }

    /// Subscribes to one or more filters in one SUBSCRIBE; [`Event::Subscribed`] carries the
    /// answer per filter.
    pub fn subscribe(&mut self, subscriptions: &[Subscription<'_>]) -> nb::Result<PacketId, Error> {
        self.settle();
        self.core.subscribe(subscriptions)
    }

    /// Unsubscribes from one or more filters; [`Event::Unsubscribed`] answers.
    pub fn unsubscribe(&mut self, filters: &[TopicFilter<'_>]) -> nb::Result<PacketId, Error> {
        self.settle();
        let filters = UnsubscribeFilters::new(filters).map_err(|_| filter_count())?;
        self.core.request(Kind::AwaitUnsuback, &[], |pid| {
            Packet::Unsubscribe(Unsubscribe { pid, filters })
        })
    }

    /// Starts a graceful disconnect: inbound QoS 2 messages already delivered get their
    /// PUBREL answered with PUBCOMP (waiting up to the response timeout for the broker), every
    /// queued acknowledgement is written, then DISCONNECT; nothing else is sent on this
    /// connection (MQTT-3.14.4-2). Once it is written, [`Client::poll`] reports
    /// [`Event::Disconnected`] and the driver closes the transport (MQTT-3.14.4-1). Events
    /// that arrive meanwhile are reported as usual.
    pub fn disconnect(&mut self, now: u64) -> Result<(), Error> {
        self.settle();
        let core = &mut self.core;
        core.save_error()?;
        if !matches!(core.state, State::Connected | State::Connecting) {
            return Err(LinkError::NotConnected.into());
        }
        // Connecting: nothing to complete yet (no CONNACK), DISCONNECT goes out at once.
        let drain = core.state == State::Connected;
        core.state = State::Disconnecting;
        core.drain_until = Some(match drain {
            true => now.saturating_add(u64::from(core.settings.response_timeout_ms)),
            false => now,
        });
        if !drain && core.tx.push_packet(&Packet::Disconnect)? {
            core.drain_until = None;
        }
        Ok(())
    }

    /// The connection was lost (the transport failed or closed). The session is kept for the
    /// next [`Client::connect`].
    pub fn connection_lost(&mut self) {
        self.settle();
        if self.core.state == State::Connected {
            warn!("connection lost (the session is kept)");
        }
        self.core.close();
    }

    /// Bytes to write to the transport now (possibly empty). Writing does not end the event
    /// handed out last.
    #[must_use]
    pub fn poll_transmit(&mut self) -> &[u8] {
        #[cfg(feature = "persistence")]
        if self.core.save_due() {
            return &[]; // the session is saved first
        }
        self.core.fill_tx();
        self.core.tx.pending()
    }

    /// `n` bytes of [`Client::poll_transmit`] were written at time `now`.
    pub fn transmitted(&mut self, n: usize, now: u64) {
        self.core.tx.consume(n);
        if n > 0 {
            self.core.last_sent = now;
            if self.core.ping_unqueued {
                self.core.ping_sent = Some(now); // the link moves: the PINGREQ waits its turn
            }
        }
    }

    /// Free space to read transport bytes into. Empty only while unprocessed packets fill
    /// the rx buffer: call [`Client::poll`] first.
    #[must_use]
    pub fn rx_space(&mut self) -> &mut [u8] {
        self.settle();
        self.rx.space()
    }

    /// `n` bytes were read into [`Client::rx_space`].
    pub fn received(&mut self, n: usize) {
        self.rx.filled(n);
    }

    /// When [`Client::poll`] must run next even if no bytes arrive (milliseconds, same clock
    /// as `now`), or `None` when no timer runs.
    #[must_use]
    pub fn next_deadline(&self) -> Option<u64> {
        self.core.next_deadline()
    }

    /// True while bytes wait in the tx buffer.
    #[must_use]
    pub fn wants_write(&self) -> bool {
        #[cfg(feature = "persistence")]
        if self.core.save_due() {
            return false; // nothing goes out before the session is saved
        }
        !self.core.tx.pending().is_empty()
    }

    /// True when no QoS 1/2 message of ours waits for its acknowledgement and nothing waits to
    /// be written.
    #[must_use]
    pub fn all_published(&self) -> bool {
        self.inflight() == 0 && !self.wants_write()
    }

    /// Runs timers and processes at most one inbound packet, returning what happened.
    /// Call it until it returns `Ok(None)`. An error that
    /// [closes the connection](Error::closes_connection) leaves the state [`State::Closed`];
    /// the driver then closes the transport.
    pub fn poll(&mut self, now: u64) -> Result<Option<Event<'_>>, Error> {
        loop {
            match self.advance(now)? {
                Progress::Event => return Ok(self.event()),
                Progress::Continue => {}
                Progress::Idle => return Ok(None),
            }
        }
    }

    /// For drivers: the first half of [`Client::poll`]. Runs timers and processes at most one
    /// inbound packet. Drivers use the two halves to decide what to do next (write, read,
    /// wait) before borrowing the event.
    pub fn advance(&mut self, now: u64) -> Result<Progress, Error> {
        self.settle();
        #[cfg(feature = "streaming")]
        if self.core.streaming.payload_due > 0 && !self.core.save_first() {
            return Ok(Progress::Idle); // the payload goes out first (after a save due)
        }
        let Client { rx, core } = self;
        let ready = core.advance(rx, now).inspect_err(|e| {
            if e.closes_connection() {
                if !matches!(e, Error::Broker(BrokerError::Refused(_))) {
                    warn!("closing the connection: {:?}", e); // a refusal said so already
                }
                core.close();
            }
        })?;
        Ok(match ready {
            Step::Ready(r) => {
                core.ready = Some(r);
                Progress::Event
            }
            Step::Continue => Progress::Continue,
            Step::Idle => Progress::Idle,
        })
    }

    /// For drivers: the second half of [`Client::poll`]. The event the last
    /// [`Client::advance`] found, borrowing the client's buffers; `None`
    /// when it found none or the client changed since.
    #[must_use]
    pub fn event(&self) -> Option<Event<'_>> {
        let core = &self.core;
        Some(match core.ready? {
            Ready::Connected { session_present } => Event::Connected { session_present },
            Ready::FromRx => match decode_from(self.rx.data(), Sender::Server) {
                Ok(Status::Complete {
                    packet: Packet::Publish(p),
                    ..
                }) => Event::Message(p),
                Ok(Status::Complete {
                    packet: Packet::Suback(ack),
                    ..
                }) => Event::Subscribed {
                    pid: ack.pid,
                    codes: ack.codes,
                },
                _ => return None,
            },
            Ready::Published { pid, qos } => Event::Published { pid, qos },
            Ready::Unsubscribed { pid } => Event::Unsubscribed { pid },
            Ready::Lost(pid) => Event::Lost(core.lost(core.store.find(pid, Kinds::OURS)?)),
            #[cfg(feature = "persistence")]
            Ready::SaveSession(_) => Event::SaveSession(Session {
                entries: core.store.entries(),
                inbound: core.store.inbound_table(),
                next_pid: core.next_pid,
                identity: core.settings.identity,
                failure: &core.saving.failure,
            }),
            #[cfg(feature = "streaming")]
            Ready::Chunk { offset, len } => {
                let data = self.rx.data();
                let head = decode_head(data).ok()??;
                let bytes = data.get(head.head_len..)?.get(..len)?;
                Event::Chunk(Chunk {
                    topic: head.publish.topic,
                    qos: head.publish.qos(),
                    retain: head.publish.retain,
                    dup: head.publish.dup,
                    offset,
                    total: head.payload_len,
                    data: bytes,
                })
            }
            Ready::Disconnected => Event::Disconnected,
        })
    }

    /// The largest packet the rx buffer holds (the sizing rule above).
    #[must_use]
    pub fn rx_capacity(&self) -> usize {
        self.rx.capacity()
    }

    /// Number of QoS 1/2 messages in flight (not yet PUBACK / PUBCOMP).
    #[must_use]
    pub fn inflight(&self) -> usize {
        self.core.store.counts().publishes
    }

    /// The QoS 1/2 messages of ours the session still holds to (re)send: published, not yet
    /// acknowledged (PUBACK / PUBREC), in send order. After
    /// [`Client::restore_session`], these are what the client resends on connecting: an
    /// application reconciles its own state with them (what it published last).
    pub fn unacknowledged(&self) -> impl Iterator<Item = Publish<'_>> {
        let store = &self.core.store;
        store
            .iter()
            .filter(|e| matches!(e.kind, Kind::AwaitPuback | Kind::AwaitPubrec))
            .filter_map(move |e| match decode_from(store.body(&e), Sender::Server) {
                Ok(Status::Complete {
                    packet: Packet::Publish(message),
                    ..
                }) => Some(message),
                _ => None, // a streamed message's head: its payload was never kept
            })
    }
}
