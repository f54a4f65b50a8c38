//! What the client connects with.

pub use crate::error::ConfigError;
use crate::packet::{Login, MqttStr, Password, QoS, Subscription, Will};
use crate::topic::TopicName;

/// Connection options: client id, keep-alive, session, will, credentials and timeouts.
///
/// ```
/// use umqtt::client::ConnectOptions;
/// use umqtt::packet::QoS;
///
/// let options = ConnectOptions::new("thermostat-1")?
///     .keep_alive_secs(30)
///     .clean_session(false)
///     .credentials("user", Some(b"secret"))?
///     .will("devices/thermostat-1/status", b"offline", QoS::AtLeastOnce, true)?;
/// assert!(!format!("{options:?}").contains("secret"));
/// # Ok::<(), umqtt::client::ConfigError>(())
/// ```
/// `Debug` never shows the password.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions<'a> {
    pub(crate) client_id: MqttStr<'a>,
    pub(crate) keep_alive_secs: u16,
    pub(crate) clean_session: bool,
    pub(crate) will: Option<Will<'a>>,
    pub(crate) login: Option<Login<'a>>,
    pub(crate) response_timeout_ms: u32,
    pub(crate) max_inflight: u16,
    pub(crate) inbound_window: u16,
    pub(crate) resubscribe: &'a [Subscription<'a>],
    #[cfg(feature = "streaming")]
    pub(crate) stream_oversized: bool,
    #[cfg(feature = "persistence")]
    pub(crate) persist_session: bool,
}

/// The default of [`ConnectOptions::max_inflight`]: mosquitto's default
/// `max_inflight_messages`.
pub const DEFAULT_MAX_INFLIGHT: u16 = 20;

impl<'a> ConnectOptions<'a> {
    /// Options for `client_id`: keep-alive 60 s, clean session, no will, no credentials,
    /// 10 s to wait for CONNACK and PINGRESP, at most [`DEFAULT_MAX_INFLIGHT`] messages in
    /// flight.
    pub fn new(client_id: &'a str) -> Result<Self, ConfigError> {
        Ok(ConnectOptions {
            client_id: MqttStr::new(client_id).map_err(ConfigError::InvalidString)?,
            keep_alive_secs: 60,
            clean_session: true,
            will: None,
            login: None,
            response_timeout_ms: 10_000,
            max_inflight: DEFAULT_MAX_INFLIGHT,
            inbound_window: DEFAULT_MAX_INFLIGHT,
            resubscribe: &[],
            #[cfg(feature = "streaming")]
            stream_oversized: false,
            #[cfg(feature = "persistence")]
            persist_session: false,
        })
    }

    /// Keep-alive interval in seconds (0 turns keep-alive off).
    pub fn keep_alive_secs(mut self, secs: u16) -> Self {
        self.keep_alive_secs = secs;
        self
    }

    /// Start a new session (true, the default) or resume the stored one (false).
    pub fn clean_session(mut self, clean: bool) -> Self {
        self.clean_session = clean;
        self
    }

    /// User name and optional password (binary).
    pub fn credentials(
        mut self,
        username: &'a str,
        password: Option<&'a [u8]>,
    ) -> Result<Self, ConfigError> {
        let username = MqttStr::new(username).map_err(ConfigError::InvalidString)?;
        let password = match password {
            Some(p) => Some(Password::new(p).ok_or(ConfigError::FieldTooLong)?),
            None => None,
        };
        self.login = Some(Login { username, password });
        Ok(self)
    }

    /// The will message the broker publishes if the connection drops without DISCONNECT.
    pub fn will(
        mut self,
        topic: &'a str,
        payload: &'a [u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Self, ConfigError> {
        let topic = TopicName::new(topic).map_err(ConfigError::InvalidWillTopic)?;
        if payload.len() > usize::from(u16::MAX) {
            return Err(ConfigError::FieldTooLong);
        }
        self.will = Some(Will {
            topic,
            payload,
            qos,
            retain,
        });
        Ok(self)
    }

    /// How long to wait for CONNACK after CONNECT, and for PINGRESP after PINGREQ, before
    /// the link is declared dead.
    pub fn response_timeout_ms(mut self, ms: u32) -> Self {
        self.response_timeout_ms = ms;
        self
    }

    /// The most QoS 1/2 messages in flight at once (the session store bounds it too); a
    /// publish beyond it waits (blocking, async) or says `WouldBlock` (non-blocking).
    /// Default [`DEFAULT_MAX_INFLIGHT`].
    ///
    /// Keep it at or under the broker's own limit: mosquitto 2.0 (`max_inflight_messages`,
    /// default 20) answers a QoS 2 message beyond it with a refusal and closes the connection.
    pub fn max_inflight(mut self, n: u16) -> Self {
        self.max_inflight = n;
        self
    }

    /// How many QoS 2 messages from the broker may await their PUBREL at once: the broker's
    /// in-flight window towards us (mosquitto's `max_inflight_messages`, 20 by default;
    /// EMQX's `max_inflight`, 32). The session store keeps a table of `n` ids
    /// ([`crate::client::INBOUND_ID_BYTES`] each) for them that our own messages never take,
    /// so a burst of them while our own window is busy is tracked, and finding one costs the
    /// same whatever the store holds. Past `n` (a broker beyond its own limit) each takes
    /// [`crate::client::ENTRY_OVERHEAD`] bytes of the store while it has them, and is then
    /// looked for in the whole store; with none left, the next closes the connection with
    /// [`crate::BrokerError::StoreFull`] (the broker resends it). Default
    /// [`DEFAULT_MAX_INFLIGHT`]; at least 1.
    pub fn inbound_window(mut self, n: u16) -> Self {
        self.inbound_window = n.max(1);
        self
    }

    /// Subscriptions to restore whenever the broker did not resume the session (a first
    /// connect, a clean session, or a broker that lost it): the client sends them in one
    /// SUBSCRIBE right after CONNACK; the answer comes as an `Event::Subscribed`.
    pub fn resubscribe(mut self, subscriptions: &'a [Subscription<'a>]) -> Self {
        self.resubscribe = subscriptions;
        self
    }

    /// What to do with an inbound PUBLISH larger than rx (feature `streaming`): refuse it (`false`, the default:
    /// [`crate::BrokerError::PacketTooLarge`] and a close) or stream it (`true`): its topic
    /// stays in rx and the payload comes in pieces, each an [`crate::Event::Chunk`] (offset,
    /// total length, bytes) as rx fills, in as many reads as it takes. The QoS 1/2
    /// acknowledgement goes out after the last piece was handed over, so a connection lost
    /// mid-message gets it redelivered from the start (a chunk at offset 0 again); a QoS 2
    /// duplicate is read and dropped, not handed over twice. rx must hold the fixed header,
    /// the topic and the packet id.
    #[cfg(feature = "streaming")]
    pub fn stream_oversized(mut self, stream: bool) -> Self {
        self.stream_oversized = stream;
        self
    }

    /// Keep the session across resets (feature `persistence`): whenever it changes, the
    /// client hands out [`crate::Event::SaveSession`] before anything that depends on the
    /// change is written; save it (with your own state) to flash, and
    /// [`crate::Client::restore_session`] it at boot. See [`crate::client::Session`]. Use it
    /// with `clean_session(false)`: a clean session is not kept by the broker either. It needs
    /// the event handled before the client goes on: the `Blocking`, `NonBlocking` and `Async`
    /// drivers' handler (or `next_event`) does that; the tokio event loop and
    /// `StdClient` queue events and go on, so they do not keep this guarantee.
    #[cfg(feature = "persistence")]
    pub fn persist_session(mut self, persist: bool) -> Self {
        self.persist_session = persist;
        self
    }

    /// Checks the rules that involve several options.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.client_id.is_empty() && !self.clean_session {
            return Err(ConfigError::EmptyClientIdNeedsCleanSession);
        }
        if self.max_inflight == 0 {
            return Err(ConfigError::NoInflight);
        }
        Ok(())
    }
}
