//! tokio: a cloneable [`AsyncClient`] any task publishes and subscribes through, and an
//! [`EventLoop`] that owns the connection, reconnects with backoff and restores
//! subscriptions — plus the pieces for driving [`crate::Async`] yourself: [`connect`] (a
//! `tokio::net::TcpStream` seen through `embedded-io-async`) and [`TokioDelay`].
//!
//! ```no_run
//! use umqtt::adapters::tokio::{AsyncClient, OwnedEvent};
//! use umqtt::{ConnectOptions, QoS};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, mut eventloop) = AsyncClient::new(ConnectOptions::new("app")?, "127.0.0.1:1883", 64)?;
//! client.subscribe("sensors/#", QoS::AtLeastOnce).await?; // queued
//! // Any task, any number of clones: a publish waits for the event loop polled below.
//! let publisher = client.clone();
//! tokio::spawn(async move { publisher.publish("sensors/t", "21.5", QoS::AtLeastOnce, false).await });
//! while !eventloop.is_done() {
//!     match eventloop.poll().await {
//!         Ok(OwnedEvent::Message(m)) => println!("{}: {:?}", m.topic, m.payload),
//!         Ok(_) => {}
//!         Err(e) => eprintln!("{e}"), // the next poll reconnects (unless it is done)
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::boxed::Box;
use std::collections::VecDeque;
use std::string::String;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::sync::{mpsc, oneshot};

use crate::StdClock;
use crate::adapters::owned::ExactlyOnce;
pub use crate::adapters::owned::{Message, OwnedEvent};
use crate::adapters::subscriptions::{Answer, Resend, Subscriptions};
use crate::client::ConfigError;
use crate::driver::{topic_filter, topic_name};
use crate::error::LinkError;
use crate::reconnect::worth_retrying;
use crate::{Async, Backoff, Client, ConnectOptions, Error, Event, PacketId, QoS, StdError};

/// The async transport: tokio's TCP stream seen through `embedded_io_async`.
pub type TokioTcp = FromTokio<tokio::net::TcpStream>;

/// Connects to `addr` (Nagle off).
pub async fn connect(addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<TokioTcp> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(FromTokio::new(stream))
}

/// The async TLS transport (feature `tokio-tls`): tokio-rustls seen through
/// `embedded_io_async`.
#[cfg(feature = "tokio-tls")]
pub type TokioTls = FromTokio<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Connects to `addr` (Nagle off) and completes a TLS handshake, verifying the broker as
/// `server_name` (feature `tokio-tls`; see [`crate::adapters::tls`] for the options and the
/// errors): nothing MQTT is sent to a broker that fails verification.
#[cfg(feature = "tokio-tls")]
pub async fn connect_tls(
    addr: impl tokio::net::ToSocketAddrs,
    server_name: &str,
    options: &crate::adapters::tls::TlsOptions,
) -> std::io::Result<TokioTls> {
    use crate::adapters::tls::{config_error, unwrap_tls};
    let invalid = |e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let config = options.client_config().map_err(invalid)?;
    let name = rustls::pki_types::ServerName::try_from(String::from(server_name))
        .map_err(|e| invalid(config_error("server name", e)))?;
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(unwrap_tls)?;
    Ok(FromTokio::new(tls))
}

/// `embedded_hal_async::delay::DelayNs` over `tokio::time::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioDelay;

impl embedded_hal_async::delay::DelayNs for TokioDelay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(std::time::Duration::from_nanos(u64::from(ns))).await;
    }
}

/// What a handle asks the event loop to do, with where the answer goes.
enum Command {
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        reply: oneshot::Sender<Result<Option<PacketId>, StdError>>,
        /// A QoS 0 message already queued, answered once written (a QoS 1/2 message is
        /// answered as it enters the session).
        queued: bool,
    },
    Subscribe {
        filter: String,
        qos: QoS,
    },
    Unsubscribe {
        filter: String,
    },
    Disconnect {
        reply: oneshot::Sender<Result<(), StdError>>,
    },
}

/// A cloneable handle to an [`EventLoop`]. [`AsyncClient::subscribe`] and
/// [`AsyncClient::unsubscribe`] return once the command is queued (call them before the
/// event loop runs, if you like). [`AsyncClient::publish`] and [`AsyncClient::disconnect`]
/// wait for the event loop's answer — room in the in-flight window, the packet id — so the
/// event loop must be polled by another task meanwhile: awaiting them in the task that polls
/// it never returns. Calls wait while the event loop reconnects; they fail with
/// [`LinkError::NotConnected`] once it is gone.
#[derive(Debug, Clone)]
pub struct AsyncClient {
    commands: mpsc::Sender<Command>,
}

/// The answer to a command whose event loop is gone.
fn gone<T>() -> Result<T, StdError> {
    Err(LinkError::NotConnected.into())
}

impl AsyncClient {
    /// A handle and the event loop for a client with `options`, connecting to `addr`
    /// (`host:port`) at the event loop's first [`EventLoop::poll`]. `capacity` bounds the
    /// commands waiting for the event loop. Buffers: rx and tx of 64 KiB (the largest packet
    /// either way) and a 256 KiB session store; see [`AsyncClient::with_client`] to choose.
    pub fn new(
        options: ConnectOptions<'_>,
        addr: impl Into<String>,
        capacity: usize,
    ) -> Result<(AsyncClient, EventLoop), ConfigError> {
        let client = crate::adapters::owned::client(options)?;
        Ok(AsyncClient::with_client(client, addr, capacity))
    }

    /// Like [`AsyncClient::new`], over a client you built (your buffer sizes).
    pub fn with_client(
        client: Client<Vec<u8>>,
        addr: impl Into<String>,
        capacity: usize,
    ) -> (AsyncClient, EventLoop) {
        let (commands, inbox) = mpsc::channel(capacity.max(1));
        let queued: Queued = Arc::default();
        let handled = queued.clone();
        let handler: Handler = Box::new(move |e: Event<'_>| {
            if let Ok(mut q) = handled.lock() {
                q.push_back(e.into());
            }
        });
        let driver = Async::new(client, Link::Down, StdClock::new(), TokioDelay, handler);
        let eventloop = EventLoop {
            driver,
            inbox,
            queued,
            addr: addr.into(),
            #[cfg(feature = "tokio-tls")]
            tls: None,
            backoff: Backoff::default(),
            state: LoopState::Down,
            current: None,
            subscriptions: Subscriptions::default(),
            exactly_once: ExactlyOnce::default(),
            lost: VecDeque::new(),
            resend: VecDeque::new(),
            retry_at: None,
        };
        (AsyncClient { commands }, eventloop)
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, StdError>>) -> Command,
    ) -> Result<T, StdError> {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(command(reply)).await.is_err() {
            return gone();
        }
        answer.await.unwrap_or_else(|_| gone())
    }

    /// Publishes; resolves once the message is in the session (QoS 1/2: with the id the
    /// [`OwnedEvent::Published`] will carry; it is delivered even across reconnects: a
    /// message a new session lost is published again by the event loop, under a new id) or
    /// written (QoS 0).
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, StdError> {
        let topic = topic.into();
        topic_name::<std::io::Error>(&topic)?;
        let payload = payload.into();
        self.ask(|reply| Command::Publish {
            topic,
            payload,
            qos,
            retain,
            reply,
            queued: false,
        })
        .await
    }

    /// Subscribes to `filter`: checks it, queues the command and returns (waiting only while
    /// the command channel is full). The event loop sends it (again after a reconnect if the
    /// link failed first), restores it after a reconnect whose session the broker did not
    /// keep, and reports the SUBACK as [`OwnedEvent::Subscribed`].
    pub async fn subscribe(&self, filter: impl Into<String>, qos: QoS) -> Result<(), StdError> {
        let filter = filter.into();
        topic_filter::<std::io::Error>(&filter)?;
        self.queue(Command::Subscribe { filter, qos }).await
    }

    /// Unsubscribes from `filter` (and stops restoring it); returns once queued, like
    /// [`AsyncClient::subscribe`]. The UNSUBACK comes as [`OwnedEvent::Unsubscribed`].
    pub async fn unsubscribe(&self, filter: impl Into<String>) -> Result<(), StdError> {
        let filter = filter.into();
        topic_filter::<std::io::Error>(&filter)?;
        self.queue(Command::Unsubscribe { filter }).await
    }

    async fn queue(&self, command: Command) -> Result<(), StdError> {
        match self.commands.send(command).await {
            Ok(()) => Ok(()),
            Err(_) => gone(),
        }
    }

    /// Disconnects gracefully (see [`crate::Blocking::disconnect`]) and ends the event loop.
    /// While the broker is unreachable it waits as long as the event loop keeps reconnecting
    /// (forever with the default backoff).
    pub async fn disconnect(&self) -> Result<(), StdError> {
        self.ask(|reply| Command::Disconnect { reply }).await
    }
}

/// The events the driver's handler got while an operation waited.
type Queued = Arc<Mutex<VecDeque<OwnedEvent>>>;
type Handler = Box<dyn FnMut(Event<'_>) + Send>;

/// The event loop's transport: not connected yet, TCP, or TLS.
enum Link {
    Down,
    Tcp(TokioTcp),
    #[cfg(feature = "tokio-tls")]
    Tls(Box<TokioTls>),
}

impl embedded_io_async::ErrorType for Link {
    type Error = std::io::Error;
}

fn not_connected() -> std::io::Error {
    std::io::ErrorKind::NotConnected.into()
}

impl embedded_io_async::Read for Link {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Link::Tcp(io) => io.read(buf).await,
            #[cfg(feature = "tokio-tls")]
            Link::Tls(io) => io.read(buf).await,
            Link::Down => Err(not_connected()),
        }
    }
}

impl embedded_io_async::Write for Link {
    async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Link::Tcp(io) => io.write(buf).await,
            #[cfg(feature = "tokio-tls")]
            Link::Tls(io) => io.write(buf).await,
            Link::Down => Err(not_connected()),
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Link::Tcp(io) => io.flush().await,
            #[cfg(feature = "tokio-tls")]
            Link::Tls(io) => io.flush().await,
            Link::Down => Err(not_connected()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoopState {
    Down,
    Up,
    Done,
}

/// Owns the connection: [`EventLoop::poll`] it in a loop (a task of its own, or inside
/// `select!` / `timeout`). A cancelled poll loses nothing and never publishes a message twice;
/// a cancelled (un)subscribe may be sent twice (harmless), a cancelled disconnect goes on at
/// the next poll, and a poll cancelled while it connects starts that attempt over (so give it
/// longer than a connection takes). It
/// connects at the first poll and reconnects after the link fails, one attempt per poll:
/// every failed attempt is returned (like `rumqttc`), and the next poll waits the backoff
/// and tries again. It restores subscriptions, publishes again what a new session lost (as
/// [`crate::StdClient`] does; a QoS 2 message the broker had received may then arrive
/// twice), and carries out the [`AsyncClient`]s' commands. After
/// [`OwnedEvent::Disconnected`] (or a refusal that retrying cannot change, or the backoff's
/// last attempt, returned once) every poll returns [`LinkError::NotConnected`]: stop polling
/// then.
pub struct EventLoop {
    driver: Async<Vec<u8>, Link, StdClock, TokioDelay, Handler>,
    inbox: mpsc::Receiver<Command>,
    queued: Queued,
    addr: String,
    /// TLS: the broker's name to verify, and the options.
    #[cfg(feature = "tokio-tls")]
    tls: Option<(String, crate::adapters::tls::TlsOptions)>,
    backoff: Backoff,
    state: LoopState,
    /// The command being carried out, kept until it is answered: carried out again after a
    /// reconnect if the link failed first (or if a poll was cancelled meanwhile).
    current: Option<Command>,
    /// Subscriptions made through the handles, restored after reconnects.
    subscriptions: Subscriptions,
    /// A copy of each QoS 2 message until PUBCOMP: a new session may drop it after PUBREC.
    exactly_once: ExactlyOnce,
    /// Messages a new session lost, to publish again.
    lost: VecDeque<Message>,
    /// (Un)subscribes to send again after a reconnect, first in line (each one taken off once
    /// sent: a poll cancelled meanwhile loses none).
    resend: VecDeque<Resend>,
    /// When the next connection attempt may start (the backoff after a failed one).
    retry_at: Option<tokio::time::Instant>,
}

/// What carrying out a command gave.
enum Outcome {
    Subscribe(Result<PacketId, StdError>),
    Unsubscribe(Result<PacketId, StdError>),
    Disconnect(Result<(), StdError>),
}

impl EventLoop {
    /// Sets the backoff between reconnect attempts (default: 100 ms doubling to 10 s,
    /// unlimited attempts).
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    /// The core, for its state and counters.
    pub fn client(&self) -> &Client<Vec<u8>> {
        self.driver.client()
    }

    /// Connects over TLS (feature `tokio-tls`), verifying the broker as `server_name`; every
    /// reconnect does the same. Call it before the first poll.
    #[cfg(feature = "tokio-tls")]
    pub fn use_tls(&mut self, server_name: &str, options: crate::adapters::tls::TlsOptions) {
        self.tls = Some((server_name.into(), options));
    }

    /// True once the event loop has ended (after [`OwnedEvent::Disconnected`], or a refusal
    /// that retrying cannot change): stop polling.
    pub fn is_done(&self) -> bool {
        self.state == LoopState::Done
    }

    /// The next event. Connects (or reconnects) first when the link is down; carries out
    /// commands meanwhile. A link failure, and each failed connection attempt, is returned;
    /// the next call tries again (after the backoff's delay).
    pub async fn poll(&mut self) -> Result<OwnedEvent, StdError> {
        loop {
            if let Some(e) = self.queued.lock().ok().and_then(|mut q| q.pop_front()) {
                if let Some(e) = self.deliver(e) {
                    return Ok(e);
                }
                continue;
            }
            match self.state {
                LoopState::Done => return gone(),
                LoopState::Down => {
                    if let Err(e) = self.reconnect().await {
                        if !worth_retrying(&e) {
                            self.finish();
                        }
                        return Err(e);
                    }
                    continue;
                }
                LoopState::Up => {}
            }
            if !self.resend.is_empty() {
                self.resend_next().await?;
                continue;
            }
            if self.current.is_none() {
                if let Some(m) = self.lost.pop_front() {
                    let (reply, _) = oneshot::channel(); // nobody waits: its caller had Ok
                    self.current = Some(Command::Publish {
                        topic: m.topic,
                        payload: m.payload,
                        qos: m.qos,
                        retain: m.retain,
                        reply,
                        queued: false,
                    });
                }
            }
            if self.current.is_some() {
                self.run().await?;
                continue;
            }
            tokio::select! {
                command = self.inbox.recv() => {
                    // Every handle gone: finish like a disconnect.
                    let (reply, _) = oneshot::channel();
                    self.current = Some(command.unwrap_or(Command::Disconnect { reply }));
                }
                event = self.driver.next_event() => {
                    match event.map(OwnedEvent::from) {
                        Ok(e) => if let Some(e) = self.deliver(e) { return Ok(e) },
                        Err(e) => return self.failed(e),
                    }
                }
            }
        }
    }

    /// Updates the subscription book-keeping with an event; `None` for one that is not news.
    fn deliver(&mut self, mut e: OwnedEvent) -> Option<OwnedEvent> {
        if !self.subscriptions.answered(Answer::of_owned(&e)) {
            return None;
        }
        match &mut e {
            OwnedEvent::Published {
                pid,
                qos: QoS::ExactlyOnce,
            } => {
                self.exactly_once.take(*pid);
            }
            // A message a new session lost (a QoS 2 one the broker had received, PUBREC, from
            // our copy): published again, not reported.
            OwnedEvent::Lost { pid, message } => {
                if let Some(m) = self.exactly_once.lost(*pid, message.take()) {
                    self.lost.push_back(m);
                    return None;
                }
            }
            _ => {}
        }
        if e == OwnedEvent::Disconnected {
            self.finish();
        }
        Some(e)
    }

    /// The link failed (or the broker broke the protocol): reconnect at the next poll.
    fn failed<T>(&mut self, e: StdError) -> Result<T, StdError> {
        if e.closes_connection() && self.state == LoopState::Up {
            self.state = LoopState::Down;
        }
        Err(e)
    }

    /// The end: no more connections; commands still queued are answered `NotConnected`.
    fn finish(&mut self) {
        self.state = LoopState::Done;
        self.inbox.close();
        let answer = |command| match command {
            Command::Publish { reply, .. } => drop(reply.send(gone())),
            Command::Disconnect { reply } => drop(reply.send(Ok(()))),
            Command::Subscribe { .. } | Command::Unsubscribe { .. } => {}
        };
        if let Some(command) = self.current.take() {
            answer(command);
        }
        while let Ok(command) = self.inbox.try_recv() {
            answer(command);
        }
    }

    /// One connection attempt, after the backoff's delay if the last one failed: a failure
    /// is returned (and logged with its reason), the next call tries again; the backoff's
    /// last attempt ends the loop. Once connected, sends again the (un)subscribes the broker
    /// did not answer, and restores every subscription when the session was not kept.
    async fn reconnect(&mut self) -> Result<(), StdError> {
        if let Some(at) = self.retry_at {
            tokio::time::sleep_until(at).await; // cancelled: the next poll waits the rest
        }
        self.retry_at = None;
        let attempt = self.backoff.attempt();
        let session_present = match self.attempt().await {
            Ok(session_present) => session_present,
            Err(e) => {
                let why = std::format!("{e}");
                match self.backoff.next_delay_ms() {
                    Some(ms) if worth_retrying(&e) => {
                        info!(
                            "connection attempt {} failed ({}); next in {} ms",
                            attempt,
                            why.as_str(),
                            ms
                        );
                        let wait = std::time::Duration::from_millis(u64::from(ms));
                        self.retry_at = Some(tokio::time::Instant::now() + wait);
                    }
                    _ => {
                        warn!(
                            "connection attempt {} failed ({}); giving up",
                            attempt,
                            why.as_str()
                        );
                        self.finish();
                    }
                }
                return Err(e);
            }
        };
        self.backoff.reset();
        self.state = LoopState::Up;
        // A QoS 0 message queued on the lost link may or may not have gone out: at most once.
        if let Some(Command::Publish {
            qos: QoS::AtMostOnce,
            queued: true,
            ..
        }) = &self.current
        {
            if let Some(Command::Publish { reply, .. }) = self.current.take() {
                let _ = reply.send(Err(LinkError::Closed.into()));
            }
        }
        if let Ok(mut q) = self.queued.lock() {
            q.push_back(OwnedEvent::Connected { session_present });
        }
        let resumed = self.driver.client().session_resumed();
        self.resend = self.subscriptions.after_reconnect(resumed).into();
        Ok(())
    }

    /// Sends the next (un)subscribe a reconnect left to send again.
    async fn resend_next(&mut self) -> Result<(), StdError> {
        let Some(resend) = self.resend.front() else {
            return Ok(());
        };
        match resend {
            Resend::Subscribe(filter, qos) => match self.driver.subscribe(filter, *qos).await {
                Ok(pid) => self.subscriptions.subscribing(filter.clone(), *qos, pid),
                Err(e) => return self.failed(e),
            },
            Resend::Unsubscribe(filter) => match self.driver.unsubscribe(filter).await {
                Ok(pid) => self.subscriptions.unsubscribing(filter.clone(), pid),
                Err(e) => return self.failed(e),
            },
        }
        self.resend.pop_front();
        Ok(())
    }

    /// Opens a transport (TCP or TLS) and connects on it: session_present.
    async fn attempt(&mut self) -> Result<bool, StdError> {
        let addr = self.addr.clone();
        #[cfg(feature = "tokio-tls")]
        if let Some((name, options)) = &self.tls {
            let io = connect_tls(addr, name, options).await.map_err(Error::Io)?;
            self.driver.replace_transport(Link::Tls(Box::new(io)));
            return self.driver.connect().await;
        }
        let io = connect(addr).await.map_err(Error::Io)?;
        self.driver.replace_transport(Link::Tcp(io));
        self.driver.connect().await
    }

    /// Carries out a publish: queued and answered in one step with no await between (a
    /// cancelled poll cannot publish it twice), waiting for room meanwhile; a QoS 0 message
    /// is answered once written (or not).
    async fn run_publish(&mut self) -> Result<(), StdError> {
        let Some(Command::Publish {
            topic,
            payload,
            qos,
            retain,
            queued,
            ..
        }) = &mut self.current
        else {
            return Ok(());
        };
        let qos = *qos;
        while !*queued {
            match self.driver.queue_publish(topic, payload, qos, *retain) {
                Ok(pid) if qos != QoS::AtMostOnce => {
                    if let Some(Command::Publish {
                        topic,
                        payload,
                        retain,
                        reply,
                        ..
                    }) = self.current.take()
                    {
                        if let (Some(pid), QoS::ExactlyOnce) = (pid, qos) {
                            let message = Message {
                                topic,
                                payload,
                                qos,
                                retain,
                            };
                            self.exactly_once.keep(pid, message);
                        }
                        let _ = reply.send(Ok(pid));
                    }
                    // In the session: written now, or resent after a reconnect.
                    return match self.driver.flush().await {
                        Ok(()) => Ok(()),
                        Err(e) => self.failed(e),
                    };
                }
                Ok(_) => *queued = true,
                Err(nb::Error::WouldBlock) => {
                    if let Err(e) = self.driver.step().await {
                        return self.failed(e); // still current: carried out after reconnecting
                    }
                    return Ok(()); // an event may wait in the queue: the loop delivers it
                }
                Err(nb::Error::Other(e)) => {
                    if let Some(Command::Publish { reply, .. }) = self.current.take() {
                        let _ = reply.send(Err(e)); // the caller's: the topic or size
                    }
                    return Ok(());
                }
            }
        }
        let written = self.driver.flush().await;
        let down = written.as_ref().is_err_and(Error::closes_connection);
        if let Some(Command::Publish { reply, .. }) = self.current.take() {
            let _ = reply.send(written.map(|()| None));
        }
        if down {
            return self.failed(LinkError::Closed.into());
        }
        Ok(())
    }

    /// Carries out the current command and answers it. When the connection fails first, the
    /// command stays current, for after the reconnect.
    async fn run(&mut self) -> Result<(), StdError> {
        if let Some(Command::Publish { .. }) = &self.current {
            return self.run_publish().await;
        }
        let Some(command) = &self.current else {
            return Ok(());
        };
        let outcome = match command {
            Command::Publish { .. } => return Ok(()), // see run_publish
            Command::Subscribe { filter, qos } => {
                Outcome::Subscribe(self.driver.subscribe(filter, *qos).await)
            }
            Command::Unsubscribe { filter } => {
                Outcome::Unsubscribe(self.driver.unsubscribe(filter).await)
            }
            Command::Disconnect { .. } => Outcome::Disconnect(self.driver.disconnect().await),
        };
        let Some(command) = self.current.take() else {
            return Ok(());
        };
        match (command, outcome) {
            (command, Outcome::Subscribe(Err(e))) | (command, Outcome::Unsubscribe(Err(e)))
                if e.closes_connection() =>
            {
                self.current = Some(command);
                self.failed(e)
            }
            (Command::Subscribe { filter, qos }, Outcome::Subscribe(r)) => {
                let pid = r?; // a caller's error (a SUBSCRIBE larger than tx): returned here
                self.subscriptions.subscribing(filter, qos, pid);
                Ok(())
            }
            (Command::Unsubscribe { filter }, Outcome::Unsubscribe(r)) => {
                let pid = r?;
                self.subscriptions.unsubscribing(filter, pid);
                Ok(())
            }
            (Command::Disconnect { reply }, Outcome::Disconnect(r)) => {
                // `Disconnected` reached the handler's queue (or the link failed first: the
                // loop ends all the same).
                if r.is_err() {
                    if let Ok(mut q) = self.queued.lock() {
                        q.push_back(OwnedEvent::Disconnected);
                    }
                }
                let _ = reply.send(r);
                Ok(())
            }
            (command, _) => {
                self.current = Some(command); // cannot happen: the outcome is the command's
                Ok(())
            }
        }
    }
}
