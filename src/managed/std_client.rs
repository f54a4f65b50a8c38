//! The std client (feature `std`): paho-mqtt's `Client`, blocking. [`StdClient`] owns its
//! buffers and its TCP connection, hands each message to the callbacks of the filters it
//! matches, and survives the link: every call reconnects first when the link is down (with
//! backoff, forever by default), restores the subscriptions, and publishes again the messages
//! a new session lost.
//!
//! ```no_run
//! use umqtt::{ConnectOptions, QoS, StdClient};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = ConnectOptions::new("app")?.credentials("alice", Some(b"secret"))?;
//! let mut mqtt = StdClient::connect("127.0.0.1:1883", options)?;
//! mqtt.on("sensors/#", QoS::AtLeastOnce, |m| println!("{}: {:?}", m.topic, m.payload))?;
//! mqtt.publish("sensors/kitchen", "21.5", QoS::AtLeastOnce, false)?;
//! loop {
//!     mqtt.wait_msg()?; // one event; reconnects first if the link is down
//! }
//! # }
//! ```
//!
//! The broker is a URL or a list of them ([`crate::transport::url`]): `mqtt://host:1883`,
//! `mqtts://` (feature `rustls`; [`StdClient::set_tls`] for your CA or a client certificate),
//! `ws://host:8080/` or `wss://` (feature `websocket`). A list is tried in order on every
//! (re)connection, one round per backoff step: the client carries on with the first broker
//! that answers, and resumes its session there if that broker kept it.
//!
//! Under it is the [`Blocking`] driver over a [`StdLink`]; use those directly for another
//! transport, static buffers or a handler of your own.

use std::boxed::Box;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::vec::Vec;

use super::owned::{ExactlyOnce, Message};
use super::subscriptions::{Answer, Resend, Subscriptions};
use crate::client::{Lost, State};
use crate::driver::reconnect::worth_retrying_std;
use crate::driver::steps::topic_filter;
use crate::error::LinkError;
use crate::topic::router::Router;
use crate::transport::link::{LinkOptions, StdLink};
use crate::transport::url::{BrokerUrl, IntoBrokers};
use crate::{
    Backoff, Blocking, Client, ConnectOptions, Error, Event, PacketId, Publish, QoS, StdClock,
    StdError,
};

type Handler = Box<dyn FnMut(Event<'_>) + Send>;
type Driver = Blocking<Vec<u8>, StdLink, StdClock, Handler>;
type Callback = Box<dyn FnMut(&Publish<'_>) + Send>;

/// What the driver's handler shares with the client.
#[derive(Default)]
pub(super) struct Shared {
    /// The callback of each filter given to [`StdClient::on`].
    routes: Router<Callback>,
    /// [`StdClient::on_event`]'s handler.
    on_event: Option<Handler>,
    /// A `Connected` that came before any `on_event` handler (`StdClient::connect` connects
    /// first): handed to the handler when it is set.
    connected_unseen: Option<bool>,
    /// The `on_connect` callback (Unix: it gets a handle), and whether a connection came
    /// before it was set (handed to it when it is).
    pub(super) on_connect: Option<Box<dyn FnMut() + Send>>,
    pub(super) connect_unseen: bool,
    subscriptions: Subscriptions,
    /// Messages a new session lost, to publish again.
    lost: VecDeque<Message>,
    /// A copy of each QoS 2 message until PUBCOMP.
    exactly_once: ExactlyOnce,
}

impl Shared {
    fn handle(&mut self, event: Event<'_>) {
        if !self.subscriptions.answered(Answer::of(&event)) {
            return;
        }
        match event {
            Event::Message(m) => {
                let routed = self
                    .routes
                    .for_each_match(m.topic.as_str(), |callback| callback(&m));
                if routed == 0 {
                    self.other(event);
                }
            }
            Event::Lost(Lost::Message { pid, message }) => {
                let m = self.exactly_once.lost(pid, Some(Message::from(&message)));
                self.lost.extend(m);
            }
            Event::Lost(Lost::Released { pid }) => match self.exactly_once.lost(pid, None) {
                Some(m) => self.lost.push_back(m),
                None => self.other(event),
            },
            Event::Published {
                pid,
                qos: QoS::ExactlyOnce,
            } => {
                self.exactly_once.take(pid);
                self.other(event);
            }
            other => self.other(other),
        }
    }

    /// A connection is up (the first, or after a reconnect).
    fn connected(&mut self, session_present: bool) {
        match &mut self.on_connect {
            Some(callback) => callback(),
            None => self.connect_unseen = true,
        }
        self.other(Event::Connected { session_present });
    }

    fn other(&mut self, event: Event<'_>) {
        match &mut self.on_event {
            Some(handler) => handler(event),
            None => {
                if let Event::Connected { session_present } = event {
                    self.connected_unseen = Some(session_present);
                }
            }
        }
    }
}

/// A blocking MQTT client that owns its connection and keeps it up. See the
/// [module](self) documentation.
pub struct StdClient {
    driver: Driver,
    shared: Arc<Mutex<Shared>>,
    brokers: Vec<BrokerUrl>,
    link: LinkOptions,
    backoff: Backoff,
    /// The queue of the handles ([`StdClient::handle`]), until the network thread takes it.
    #[cfg(unix)]
    pub(super) queue: Option<super::std_handle::Queue>,
    /// On the network thread: its wake-up socket and stop flag.
    #[cfg(unix)]
    pub(super) wakeup: Option<super::std_handle::Wakeup>,
}

impl StdClient {
    /// Connects to `brokers` (a URL such as `mqtt://host:1883`, or a list tried in order)
    /// with `options` (one round: when no broker of the list answers, or one refuses, that
    /// is the error). Buffers: rx and tx of 64 KiB (the largest packet either way) and a 256
    /// KiB session store; see [`StdClient::new`] to choose.
    pub fn connect(
        brokers: impl IntoBrokers,
        options: ConnectOptions<'_>,
    ) -> Result<Self, StdError> {
        let mut client = Self::new(super::owned::client(options)?, brokers)?;
        let backoff = core::mem::replace(&mut client.backoff, Backoff::default().max_attempts(1));
        client.reconnect()?;
        client.backoff = backoff;
        Ok(client)
    }

    /// A client over `client` (your buffer sizes), connecting to `brokers` at its first call
    /// (set TLS options, callbacks and the backoff before; an [`StdClient::on_event`]
    /// handler set here sees the first `Connected` too). That first call retries with the
    /// backoff like any reconnect — forever by default: give
    /// [`Backoff::max_attempts`] to [`StdClient::set_backoff`] to hear that no broker
    /// answers. A URL that does not parse is the error (an `InvalidInput` I/O error saying
    /// what is wrong).
    pub fn new(client: Client<Vec<u8>>, brokers: impl IntoBrokers) -> Result<Self, StdError> {
        let brokers = brokers
            .into_brokers()
            .map_err(|e| Error::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        let link = LinkOptions::new(client.rx_capacity());
        let shared = Arc::new(Mutex::new(Shared::default()));
        let handled = shared.clone();
        let handler: Handler = Box::new(move |event| {
            handled
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .handle(event);
        });
        Ok(StdClient {
            driver: Blocking::new(client, StdLink::disconnected(), StdClock::new(), handler),
            shared,
            brokers,
            link,
            backoff: Backoff::default(),
            #[cfg(unix)]
            queue: None,
            #[cfg(unix)]
            wakeup: None,
        })
    }

    /// Whom to trust and who we are for `mqtts://` and `wss://` brokers (feature `rustls`;
    /// without it the webpki roots, no client certificate): paho's `tls_set`. Takes effect at
    /// the next connection.
    #[cfg(feature = "rustls")]
    pub fn set_tls(&mut self, options: crate::transport::tls::TlsOptions) {
        self.link = self.link.clone().tls(options);
    }

    /// The brokers, in the order they are tried.
    pub fn brokers(&self) -> &[BrokerUrl] {
        &self.brokers
    }

    /// Sets the backoff between reconnect attempts (default: 100 ms doubling to 10 s,
    /// unlimited attempts). With a limit, a call returns the last error once the attempts run
    /// out (and the next call tries again).
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    /// Subscribes to `filter` and calls `callback` with every message that matches it (also
    /// after reconnects: the subscription is restored). A message matching several filters
    /// goes to each of their callbacks. Returns the SUBSCRIBE's id; the SUBACK goes to
    /// [`StdClient::on_event`].
    pub fn on(
        &mut self,
        filter: &str,
        qos: QoS,
        callback: impl FnMut(&Publish<'_>) + Send + 'static,
    ) -> Result<PacketId, StdError> {
        let pid = self.subscribe(filter, qos)?;
        let mut shared = self.shared();
        shared.routes.insert(filter, Box::new(callback));
        Ok(pid)
    }

    /// Calls `handler` with every event that no [`StdClient::on`] callback takes: messages
    /// no callback's filter matches, `Connected` (the first one too, even when
    /// [`StdClient::connect`] made it before the handler was set; after every reconnect), `Published`,
    /// `Subscribed`, `Unsubscribed`, `Lost` (except lost messages, which are published
    /// again), `Disconnected`.
    pub fn on_event(&mut self, handler: impl FnMut(Event<'_>) + Send + 'static) {
        let mut shared = self.shared();
        let mut handler: Handler = Box::new(handler);
        // The first `Connected` of `StdClient::connect` came before any handler.
        if let Some(session_present) = shared.connected_unseen.take() {
            handler(Event::Connected { session_present });
        }
        shared.on_event = Some(handler);
    }

    /// Subscribes to `filter` (restored after reconnects); its messages go to
    /// [`StdClient::on_event`] unless an [`StdClient::on`] callback takes them.
    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<PacketId, StdError> {
        topic_filter::<io::Error>(filter)?;
        let pid = self.with_link(true, |d| d.subscribe(filter, qos))?;
        self.shared()
            .subscriptions
            .subscribing(filter.into(), qos, pid);
        Ok(pid)
    }

    /// Unsubscribes from `filter` and drops its callback.
    pub fn unsubscribe(&mut self, filter: &str) -> Result<PacketId, StdError> {
        topic_filter::<io::Error>(filter)?;
        let pid = self.with_link(true, |d| d.unsubscribe(filter))?;
        let mut shared = self.shared();
        shared.subscriptions.unsubscribing(filter.into(), pid);
        shared.routes.remove(filter);
        Ok(pid)
    }

    /// Publishes (see [`Blocking::publish`]); reconnects first if the link is down. `Ok` for
    /// QoS 1/2: the message is in the session and is delivered, across reconnects too. When
    /// the broker does not resume the session (a clean session), the messages it had not
    /// completed are published again — a QoS 2 message, too, after PUBREC (the client keeps
    /// a copy of each until PUBCOMP): such a message may arrive twice. QoS 0: written, or the
    /// error.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, StdError> {
        let payload = payload.as_ref();
        let again = qos != QoS::AtMostOnce;
        let pid = self.with_link(again, |d| d.publish(topic, payload, qos, retain))?;
        if let (Some(pid), QoS::ExactlyOnce) = (pid, qos) {
            let message = Message {
                topic: topic.into(),
                payload: payload.into(),
                qos,
                retain,
                dup: false,
            };
            self.shared().exactly_once.keep(pid, message);
        }
        Ok(pid)
    }

    /// Waits for the next event, as long as it takes, and hands it to the callbacks
    /// (`umqtt.simple`'s `wait_msg`; [`StdClient::check_msg`] never waits, [`StdClient::run_for`]
    /// waits a while). A link that fails meanwhile is reconnected; the error is returned only
    /// when reconnecting fails (a refusal, or the attempts ran out).
    pub fn wait_msg(&mut self) -> Result<(), StdError> {
        self.with_link(true, Driver::wait_msg)
    }

    /// Hands every event that is ready now to the callbacks and returns without waiting for
    /// more (`umqtt.simple`'s `check_msg`; see [`Blocking::check_msg`]): for a loop that also
    /// checks a flag, a timer or a channel. Call it often enough for the keep-alive.
    /// Reconnects like [`StdClient::wait_msg`] (a reconnect waits).
    pub fn check_msg(&mut self) -> Result<(), StdError> {
        self.with_link(true, Driver::check_msg)
    }

    /// Hands events to the callbacks for `ms` milliseconds, then returns (see
    /// [`Blocking::run_for`]): the loop of a program with a timer of its own ("publish every
    /// second"). Reconnects like [`StdClient::wait_msg`].
    pub fn run_for(&mut self, ms: u64) -> Result<(), StdError> {
        self.with_link(true, |d| d.run_for(ms))
    }

    /// Waits until every QoS 1/2 message published so far is acknowledged (those a new
    /// session lost: published again, and acknowledged), reconnecting if needed; events go to
    /// the callbacks meanwhile.
    pub fn wait_published(&mut self) -> Result<(), StdError> {
        loop {
            self.with_link(true, Driver::wait_published)?;
            if self.shared().lost.is_empty() {
                return Ok(());
            }
        }
    }

    /// Disconnects gracefully (see [`Blocking::disconnect`]); nothing to do if the link is
    /// down. The next call connects again.
    pub fn disconnect(&mut self) -> Result<(), StdError> {
        if self.driver.client().state() == State::Closed {
            return Ok(());
        }
        self.driver.disconnect()?;
        // Without a TCP reset, which would make the broker drop what it had not read yet.
        self.driver
            .replace_transport(StdLink::disconnected())
            .close();
        Ok(())
    }

    /// The core, for its state and counters.
    pub fn client(&self) -> &Client<Vec<u8>> {
        self.driver.client()
    }

    /// [`StdClient::check_msg`]; true when it stopped with work left (the network thread
    /// then goes on before it sleeps).
    #[cfg(unix)]
    pub(super) fn check_ready(&mut self) -> Result<bool, StdError> {
        self.with_link(true, Driver::check_ready)
    }

    /// Nothing waits for an acknowledgement, nothing waits to be published again.
    #[cfg(unix)]
    pub(super) fn settled(&self) -> bool {
        self.driver.client().all_published() && self.shared().lost.is_empty()
    }

    /// Milliseconds until the core's next deadline.
    #[cfg(unix)]
    pub(super) fn next_timeout_ms(&mut self) -> Option<u64> {
        self.driver.next_timeout_ms()
    }

    /// The current transport.
    #[cfg(unix)]
    pub(super) fn link(&self) -> &StdLink {
        self.driver.transport()
    }

    pub(super) fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `op` on a connected driver: reconnects first when the link is down, and, if
    /// `again`, runs `op` again on a new link when the link fails before `op` took effect (an
    /// error means it did not: see [`Blocking::publish`]). A broker that breaks the protocol
    /// or a caller's error is returned.
    fn with_link<R>(
        &mut self,
        again: bool,
        mut op: impl FnMut(&mut Driver) -> Result<R, StdError>,
    ) -> Result<R, StdError> {
        loop {
            if self.driver.client().state() == State::Closed {
                self.reconnect()?;
            }
            let result = match self.publish_lost() {
                Ok(()) => op(&mut self.driver),
                Err(e) => Err(e),
            };
            match result {
                Err(ref e @ (Error::Link(_) | Error::Io(_))) if again && !futile(e) => {}
                result => return result,
            }
        }
    }

    /// Connects with backoff (the error once the backoff gives up), then restores the
    /// subscriptions. One attempt is a round over the list; after a broker that opened but
    /// failed at the MQTT level (or while restoring), the next round starts with the one
    /// after it. On a network thread, [`StdHandle::disconnect`](super::std_handle::StdHandle)
    /// ends the wait between rounds.
    fn reconnect(&mut self) -> Result<(), StdError> {
        self.backoff.reset();
        let mut next = 0;
        loop {
            if self.stopping() {
                return Err(Error::Link(LinkError::NotConnected));
            }
            let attempt = self.backoff.attempt();
            let e = match self.attempt(&mut next) {
                Ok(()) => {
                    self.backoff.reset();
                    return Ok(());
                }
                Err(e) if !worth_retrying_std(&e) => return Err(e),
                Err(e) => e,
            };
            let why = std::format!("{e}");
            match self.backoff.next_delay_ms() {
                Some(ms) => {
                    info!(
                        "connection attempt {} failed ({}); next in {} ms",
                        attempt,
                        why.as_str(),
                        ms
                    );
                    self.pause(ms);
                }
                None => {
                    warn!(
                        "connection attempt {} failed ({}); giving up",
                        attempt,
                        why.as_str()
                    );
                    return Err(e);
                }
            }
        }
    }

    /// One round over the brokers from `next`: connects on the first transport that opens,
    /// then restores the subscriptions.
    fn attempt(&mut self, next: &mut usize) -> Result<(), StdError> {
        let mut last = io::Error::from(io::ErrorKind::NotFound);
        let n = self.brokers.len();
        let mut opened = None;
        for i in (0..n).map(|j| (*next + j) % n) {
            let Some(url) = self.brokers.get(i) else {
                continue;
            };
            match StdLink::open(url, &self.link) {
                Ok(io) => {
                    *next = i + 1;
                    opened = Some(io);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let Some(io) = opened else {
            *next = 0;
            return Err(Error::Io(last));
        };
        self.driver.replace_transport(io);
        let session_present = self.driver.connect()?;
        let resend = {
            let mut shared = self.shared();
            shared.connected(session_present);
            let resumed = self.driver.client().session_resumed();
            shared.subscriptions.after_reconnect(resumed)
        };
        self.resend(resend)
    }

    /// Waits `ms` between connection rounds: on a network thread, until a handle asks it to
    /// stop at the latest.
    fn pause(&mut self, ms: u32) {
        #[cfg(unix)]
        if let Some(wakeup) = &self.wakeup {
            return wakeup.wait(ms);
        }
        std::thread::sleep(std::time::Duration::from_millis(u64::from(ms)));
    }

    /// A handle asked the network thread to end: no more connection attempts.
    pub(super) fn stopping(&self) -> bool {
        #[cfg(unix)]
        if let Some(wakeup) = &self.wakeup {
            return wakeup.stopping();
        }
        false
    }

    /// Sends (un)subscribes again after a reconnect.
    fn resend(&mut self, requests: Vec<Resend>) -> Result<(), StdError> {
        for request in requests {
            match request {
                Resend::Subscribe(filter, qos) => {
                    let pid = self.driver.subscribe(&filter, qos)?;
                    self.shared().subscriptions.subscribing(filter, qos, pid);
                }
                Resend::Unsubscribe(filter) => {
                    let pid = self.driver.unsubscribe(&filter)?;
                    self.shared().subscriptions.unsubscribing(filter, pid);
                }
            }
        }
        Ok(())
    }

    /// Publishes again the messages a new session lost (the core reports them after the
    /// CONNACK). One that cannot be published now stays for the next call.
    fn publish_lost(&mut self) -> Result<(), StdError> {
        loop {
            let Some(m) = self.shared().lost.pop_front() else {
                return Ok(());
            };
            match self.driver.publish(&m.topic, &m.payload, m.qos, m.retain) {
                Ok(Some(pid)) if m.qos == QoS::ExactlyOnce => {
                    self.shared().exactly_once.keep(pid, m);
                }
                Ok(_) => {}
                Err(e) => {
                    self.shared().lost.push_front(m);
                    return Err(e);
                }
            }
        }
    }
}

/// An error another connection would only meet again: a WebSocket frame larger than rx
/// (the broker sends the same message again). The caller hears it instead of a reconnect
/// loop.
fn futile(e: &StdError) -> bool {
    #[cfg(feature = "websocket")]
    if let Error::Io(io) = e {
        use crate::transport::websocket::WsFailure;
        let inner = io.get_ref().and_then(|i| i.downcast_ref::<WsFailure>());
        return matches!(inner, Some(WsFailure::TooLarge { .. }));
    }
    let _ = e;
    false
}
