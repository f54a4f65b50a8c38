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
//!   release, SUBSCRIBE, UNSUBSCRIBE or inbound QoS 2 message keeps [`ENTRY_OVERHEAD`] (+2)
//!   bytes; [`ConnectOptions::inbound_window`] × [`ENTRY_OVERHEAD`] (160 bytes by default)
//!   stay free for the broker's QoS 2 messages. The rest is your in-flight window in bytes;
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
mod store;
#[cfg(feature = "streaming")]
mod streaming;
mod timers;

pub use event::{Chunk, Event, Lost};
pub use options::{ConfigError, ConnectOptions, DEFAULT_MAX_INFLIGHT};
#[cfg(feature = "persistence")]
use session::SaveFailure;
pub use session::{SNAPSHOT_VERSION, Session, SnapshotError};
pub use store::ENTRY_OVERHEAD;

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

/// The longest packet the core queues in answer to an inbound one (PUBACK, PUBREC, PUBREL,
/// PUBCOMP: 4 bytes). Inbound packets wait while the tx buffer has less room than this.
const ACK_LEN: usize = 4;

/// How long before the keep-alive interval ends the core asks for a PINGREQ: a quarter of the
/// interval, at most this many milliseconds. A driver that wakes up this late (a transport
/// read timeout, a polling period) still sends it in time (MQTT-3.1.2-23).
pub const KEEP_ALIVE_MARGIN_MS: u64 = 1_000;

/// A busy answer: the operation needs room that driving the connection will free.
fn busy<T>() -> nb::Result<T, Error> {
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
enum Ready {
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
    /// The lost store entry at this offset.
    Lost(usize),
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
enum Step {
    Ready(Ready),
    Continue,
    Idle,
}

/// What the core keeps of [`ConnectOptions`]: the numbers, and where in the store's prefix
/// the encoded CONNECT and resubscribe SUBSCRIBE are.
#[derive(Debug, Clone, Copy)]
struct Settings {
    keep_alive_secs: u16,
    clean_session: bool,
    response_timeout_ms: u32,
    max_inflight: u16,
    /// [`ConnectOptions::inbound_window`].
    inbound_window: u16,
    /// The CONNECT's length: prefix bytes `0..connect_len`.
    connect_len: usize,
    /// The resubscribe SUBSCRIBE's length (0: none), after the CONNECT; its filter count; and
    /// where its packet identifier is.
    resubscribe_len: usize,
    resubscribe_count: u16,
    resubscribe_pid_at: usize,
    /// `ConnectOptions::stream_oversized` (feature `streaming`).
    #[cfg(feature = "streaming")]
    stream_oversized: bool,
    /// `ConnectOptions::persist_session` (feature `persistence`).
    #[cfg(feature = "persistence")]
    persist: bool,
    /// Which client and options a session snapshot belongs to: CRC-32 of the store's prefix
    /// without the password (feature `persistence`).
    #[cfg(feature = "persistence")]
    identity: u32,
}

#[cfg(feature = "streaming")]
/// An inbound PUBLISH larger than rx, being streamed: its head stays at the front of rx.
#[derive(Debug, Clone, Copy)]
struct Streaming {
    head_len: usize,
    payload_len: usize,
    /// Payload bytes handed out (or skipped) so far.
    done: usize,
    qos: QosPid,
    /// A QoS 2 message already received: read and dropped, acknowledged again.
    duplicate: bool,
}

/// Everything but the rx buffer. Its methods live by role: [`Core::advance`] (one step of
/// the state machine) and `close` here; `inbound.rs` what each packet from the broker does;
/// `outbound.rs` what we send (publishes, (un)subscribes, packet ids, filling tx, lost
/// entries); `timers.rs` keep-alive and timeouts; `streaming.rs` and `saving.rs` the two
/// features' parts.
struct Core<B> {
    settings: Settings,
    state: State,
    tx: TxQueue<B>,
    store: Store<B>,
    next_pid: u16,
    /// The event [`Client::advance`] found, until the next call that changes the client.
    ready: Option<Ready>,
    /// Bytes of rx handed out with the last event, dropped at the next call.
    rx_consumed: usize,
    /// The connection closed on an error: rx is cleared at the next call.
    rx_reset: bool,
    connack_deadline: u64,
    /// While disconnecting, until DISCONNECT is queued (nothing may follow it, MQTT-3.14.4-2):
    /// when it goes out even if inbound QoS 2 is still open.
    drain_until: Option<u64>,
    last_sent: u64,
    /// When the PINGREQ now awaiting its PINGRESP was due.
    ping_sent: Option<u64>,
    /// That PINGREQ did not fit tx yet.
    ping_unqueued: bool,
    /// [`ConnectOptions::resubscribe`] is still to be sent on this connection.
    resubscribe_pending: bool,
    /// A resubscribe SUBSCRIBE was dropped unsent (its save failed): the next connection sends
    /// it whatever the broker's session holds.
    resubscribe_owed: bool,
    /// The last accepted CONNACK's session_present.
    session_present: bool,
    /// The PUBLISH being streamed, if any.
    #[cfg(feature = "streaming")]
    streaming: Option<Streaming>,
    /// Payload bytes of rx handed out in the last chunk (start, length), dropped at the next
    /// call.
    #[cfg(feature = "streaming")]
    rx_chunk: Option<(usize, usize)>,
    /// Bytes of a streamed outbound payload still to be written after the head in tx;
    /// nothing else is processed or queued meanwhile.
    #[cfg(feature = "streaming")]
    payload_due: usize,
    /// The QoS 1/2 message whose payload is due: dropped from the session if the connection
    /// ends first (the broker never got it whole; the caller hears the error).
    #[cfg(feature = "streaming")]
    payload_pid: Option<PacketId>,
    /// The store's change count at the last snapshot saved.
    #[cfg(feature = "persistence")]
    saved: u32,
    /// [`Session::failed`]'s word.
    #[cfg(feature = "persistence")]
    save_failure: SaveFailure,
    /// A save failed: the next [`Client::advance`] or [`Client::connect`] says so.
    #[cfg(feature = "persistence")]
    save_error: bool,
}

/// Memory for a [`Client`]: any byte buffer (`Vec<u8>`, `[u8; N]`, `&mut [u8]`, …).
pub trait Buffer: AsRef<[u8]> + AsMut<[u8]> {}

impl<B: AsRef<[u8]> + AsMut<[u8]> + ?Sized> Buffer for B {}

/// The sans-IO MQTT 3.1.1 client over the caller's memory `B`. See the [module docs](self)
/// for how to drive it.
///
/// `B` is any byte buffer: `Vec<u8>` (the client owns its memory and lives in a struct with
/// no lifetime), `[u8; N]` (one `N` for the three buffers), or `&mut [u8]` (static or stack
/// buffers of any lengths on firmware).
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
        // Room for a SUBSCRIBE entry (its filter count) besides the inbound QoS 2 reserve.
        let inbound_reserve = usize::from(options.inbound_window).saturating_mul(ENTRY_OVERHEAD);
        let needed = (prefix + ENTRY_OVERHEAD + 2).saturating_add(inbound_reserve);
        let store = Store::new(store, prefix, |dst| {
            let Some((c, r)) = dst.split_at_mut_checked(connect_len) else {
                return false;
            };
            connect.encode(c).is_ok() && resubscribe.is_none_or(|p| p.encode(r).is_ok())
        })
        .ok_or(ConfigError::StoreTooSmall { needed })?;
        if store.free() < needed - prefix {
            return Err(ConfigError::StoreTooSmall { needed });
        }
        // The password is the CONNECT's last field: the identity leaves it out, and the fixed
        // header (its Remaining Length counts the password's length).
        #[cfg(feature = "persistence")]
        let identity = {
            let password = options.login.and_then(|l| l.password);
            let secret = password.map_or(0, |p| 2 + p.as_bytes().len());
            let whole = store.whole_prefix();
            let length_bytes = whole.iter().skip(1).take(4).take_while(|b| *b & 0x80 != 0);
            let head = 2 + length_bytes.count();
            let before = whole.get(head..connect_len.saturating_sub(secret));
            let after = whole.get(connect_len..);
            let crc = session::crc32_update(!0, before.unwrap_or_default());
            !session::crc32_update(crc, after.unwrap_or_default())
        };
        Ok(Client {
            rx: RxBuffer::new(rx),
            core: Core {
                settings: Settings {
                    keep_alive_secs: options.keep_alive_secs,
                    clean_session: options.clean_session,
                    response_timeout_ms: options.response_timeout_ms,
                    max_inflight: options.max_inflight,
                    inbound_window: options.inbound_window,
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
                streaming: None,
                #[cfg(feature = "streaming")]
                rx_chunk: None,
                #[cfg(feature = "streaming")]
                payload_due: 0,
                #[cfg(feature = "streaming")]
                payload_pid: None,
                #[cfg(feature = "persistence")]
                saved: 0,
                #[cfg(feature = "persistence")]
                save_failure: SaveFailure::default(),
                #[cfg(feature = "persistence")]
                save_error: false,
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
        if let Some((start, n)) = self.core.rx_chunk.take() {
            self.rx.remove(start, n);
        }
        self.rx.compact();
        // An event handed out earlier is over once the client changes.
        match self.core.ready.take() {
            Some(Ready::Lost(offset)) => {
                if let Some(e) = self.core.store.entry_at(offset) {
                    self.core.store.remove(&e);
                }
            }
            #[cfg(feature = "persistence")]
            Some(Ready::SaveSession(changes)) => match self.core.save_failure.take() {
                false => {
                    self.core.saved = changes;
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
    #[cfg(feature = "streaming")]
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
    #[cfg(feature = "streaming")]
    pub fn payload_space(&mut self) -> &mut [u8] {
        let due = self.core.payload_due;
        let space = self.core.tx.space();
        let n = space.len().min(due);
        space.get_mut(..n).unwrap_or_default()
    }

    /// `n` payload bytes (from [`Client::payload_space`]) were written to the transport at
    /// `now`.
    #[cfg(feature = "streaming")]
    pub fn payload_written(&mut self, n: usize, now: u64) {
        self.core.payload_due = self.core.payload_due.saturating_sub(n);
        if self.core.payload_due == 0 {
            self.core.payload_pid = None;
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
    #[cfg(feature = "streaming")]
    pub fn payload_due(&self) -> usize {
        self.core.payload_due
    }

    /// Puts back a session saved from [`Event::SaveSession`] (feature `persistence`), before
    /// `connect`: the client must have been created with the same options. Returns the
    /// application's bytes saved with it. A torn, damaged, foreign or other-version snapshot
    /// is refused with the reason, and the client is left as it was (an empty session).
    #[cfg(feature = "persistence")]
    pub fn restore_session<'s>(&mut self, snapshot: &'s [u8]) -> Result<&'s [u8], SnapshotError> {
        self.settle();
        let core = &mut self.core;
        if core.state != State::Closed {
            return Err(SnapshotError::InUse);
        }
        let parsed = session::parse(snapshot, core.settings.identity, core.tx.capacity())?;
        if !core.store.restore(parsed.entries) {
            return Err(SnapshotError::Corrupt);
        }
        core.store.clear_flags(UNSAVED); // what flash holds is saved
        core.next_pid = parsed.next_pid;
        core.saved = core.store.changes();
        Ok(parsed.app)
    }

    /// True while a session snapshot is due ([`Event::SaveSession`] comes next; nothing is
    /// written before it).
    #[cfg(feature = "persistence")]
    pub fn save_due(&self) -> bool {
        self.core.save_due()
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

    /// The first half of [`Client::poll`], for drivers: runs timers and processes at most one
    /// inbound packet. Drivers use the two halves to decide what to do next (write, read,
    /// wait) before borrowing the event.
    pub fn advance(&mut self, now: u64) -> Result<Progress, Error> {
        self.settle();
        #[cfg(feature = "streaming")]
        if self.core.payload_due > 0 && !self.core.saving() {
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

    /// The event the last [`Client::advance`] found, borrowing the client's buffers; `None`
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
            Ready::Lost(offset) => Event::Lost(core.lost(core.store.entry_at(offset)?)),
            #[cfg(feature = "persistence")]
            Ready::SaveSession(_) => Event::SaveSession(Session {
                entries: core.store.entries(),
                next_pid: core.next_pid,
                identity: core.settings.identity,
                failure: &core.save_failure,
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

impl<B: Buffer> Core<B> {
    /// See [`Client::advance`].
    fn advance(&mut self, rx: &RxBuffer<B>, now: u64) -> Result<Step, Error> {
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
                    let open = self.store.counts().inbound > 0;
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
                    return Ok(Step::Ready(Ready::Lost(e.offset)));
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
        if self.streaming.is_some() {
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
    fn save_error(&mut self) -> Result<(), Error> {
        #[cfg(feature = "persistence")]
        if core::mem::take(&mut self.save_error) {
            return Err(CallerError::SessionNotSaved.into());
        }
        Ok(())
    }

    /// Ends the connection; the session store stays.
    fn close(&mut self) {
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
fn unknown_id(ack: &Packet<'_>, pid: PacketId) -> Error {
    BrokerError::UnknownPacketId(ack.packet_type(), pid).into()
}

/// The error for a SUBSCRIBE or UNSUBSCRIBE with no filters or more than 65,535.
fn filter_count() -> nb::Error<Error> {
    nb::Error::Other(CallerError::FilterCount.into())
}
