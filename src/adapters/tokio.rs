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
//! tokio::spawn(async move { client.publish("sensors/t", "21.5", QoS::AtLeastOnce, false).await });
//! loop {
//!     match eventloop.poll().await {
//!         Ok(OwnedEvent::Message(m)) => println!("{}: {:?}", m.topic, m.payload),
//!         Ok(_) => {}
//!         Err(e) => eprintln!("{e}; reconnecting"), // the next poll reconnects
//!     }
//! }
//! # }
//! ```

use std::boxed::Box;
use std::collections::VecDeque;
use std::string::String;
use std::sync::{Arc, Mutex};
use std::vec;
use std::vec::Vec;

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::sync::{mpsc, oneshot};

use crate::StdClock;
use crate::client::{ConfigError, Lost};
use crate::driver::{topic_filter, topic_name};
use crate::error::LinkError;
use crate::{Async, Backoff, Client, ConnectOptions, Error, Event, PacketId, QoS, SubackCode};

/// The async transport: tokio's TCP stream seen through `embedded_io_async`.
pub type TokioTcp = FromTokio<tokio::net::TcpStream>;

/// Connects to `addr` (Nagle off).
pub async fn connect(addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<TokioTcp> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(FromTokio::new(stream))
}

/// `embedded_hal_async::delay::DelayNs` over `tokio::time::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioDelay;

impl embedded_hal_async::delay::DelayNs for TokioDelay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(std::time::Duration::from_nanos(u64::from(ns))).await;
    }
}

/// The errors of [`AsyncClient`] and [`EventLoop`]: the transport's are `std::io::Error`.
pub type TokioError = Error<std::io::Error>;

/// A message, owned (it can cross tasks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic name.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// The QoS it was delivered (or published) at.
    pub qos: QoS,
    /// Retained (inbound), or to be retained (a lost message of ours).
    pub retain: bool,
}

/// An [`Event`], owned: what [`EventLoop::poll`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedEvent {
    /// Connected (after every reconnect, too).
    Connected {
        /// The broker resumed the session.
        session_present: bool,
    },
    /// A message arrived.
    Message(Message),
    /// A QoS 1/2 message of ours completed.
    Published {
        /// The id [`AsyncClient::publish`] returned.
        pid: PacketId,
        /// Its QoS.
        qos: QoS,
    },
    /// A SUBACK: one code per filter.
    Subscribed {
        /// The SUBSCRIBE's packet identifier.
        pid: PacketId,
        /// Granted QoS or failure, per filter.
        codes: Vec<SubackCode>,
    },
    /// An UNSUBACK.
    Unsubscribed {
        /// The UNSUBSCRIBE's packet identifier.
        pid: PacketId,
    },
    /// A request whose outcome is unknown because the broker did not resume the session; a
    /// message not yet acknowledged comes with it, to publish again if you wish.
    Lost {
        /// Its old packet identifier.
        pid: PacketId,
        /// The message, for a PUBLISH not yet acknowledged.
        message: Option<Message>,
    },
    /// [`AsyncClient::disconnect`] finished: the event loop ends (its `poll` returns
    /// `NotConnected` from now on).
    Disconnected,
}

impl From<Event<'_>> for OwnedEvent {
    fn from(e: Event<'_>) -> Self {
        let message = |m: &crate::Publish<'_>| Message {
            topic: m.topic.as_str().into(),
            payload: m.payload.to_vec(),
            qos: m.qos(),
            retain: m.retain,
        };
        match e {
            Event::Connected { session_present } => OwnedEvent::Connected { session_present },
            Event::Message(m) => OwnedEvent::Message(message(&m)),
            Event::Published { pid, qos } => OwnedEvent::Published { pid, qos },
            Event::Subscribed { pid, codes } => OwnedEvent::Subscribed {
                pid,
                codes: codes.iter().collect(),
            },
            Event::Unsubscribed { pid } => OwnedEvent::Unsubscribed { pid },
            Event::Lost(Lost::Message { pid, message: m }) => OwnedEvent::Lost {
                pid,
                message: Some(message(&m)),
            },
            Event::Lost(
                Lost::Released { pid } | Lost::Subscribe { pid } | Lost::Unsubscribe { pid },
            ) => OwnedEvent::Lost { pid, message: None },
            Event::Disconnected => OwnedEvent::Disconnected,
        }
    }
}

/// What a handle asks the event loop to do, with where the answer goes.
enum Command {
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        reply: oneshot::Sender<Result<Option<PacketId>, TokioError>>,
    },
    Subscribe {
        filter: String,
        qos: QoS,
    },
    Unsubscribe {
        filter: String,
    },
    Disconnect {
        reply: oneshot::Sender<Result<(), TokioError>>,
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
fn gone<T>() -> Result<T, TokioError> {
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
        let (rx, tx, store) = (vec![0; 64 << 10], vec![0; 64 << 10], vec![0; 256 << 10]);
        let client = Client::new(options, rx, tx, store)?;
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
        let driver = Async::new(client, Link(None), StdClock::new(), TokioDelay, handler);
        let eventloop = EventLoop {
            driver,
            inbox,
            queued,
            addr: addr.into(),
            backoff: Backoff::default(),
            state: LoopState::Down,
            retry: None,
            subscriptions: Vec::new(),
        };
        (AsyncClient { commands }, eventloop)
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, TokioError>>) -> Command,
    ) -> Result<T, TokioError> {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(command(reply)).await.is_err() {
            return gone();
        }
        answer.await.unwrap_or_else(|_| gone())
    }

    /// Publishes; resolves once the message is in the session (QoS 1/2: with the id the
    /// [`OwnedEvent::Published`] will carry; it is delivered even across reconnects) or
    /// written (QoS 0).
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, TokioError> {
        let topic = topic.into();
        topic_name::<std::io::Error>(&topic)?;
        let payload = payload.into();
        self.ask(|reply| Command::Publish {
            topic,
            payload,
            qos,
            retain,
            reply,
        })
        .await
    }

    /// Subscribes to `filter`: checks it, queues the command and returns (waiting only while
    /// the command channel is full). The event loop sends it (again after a reconnect if the
    /// link failed first), restores it after a reconnect whose session the broker did not
    /// keep, and reports the SUBACK as [`OwnedEvent::Subscribed`].
    pub async fn subscribe(&self, filter: impl Into<String>, qos: QoS) -> Result<(), TokioError> {
        let filter = filter.into();
        topic_filter::<std::io::Error>(&filter)?;
        self.queue(Command::Subscribe { filter, qos }).await
    }

    /// Unsubscribes from `filter` (and stops restoring it); returns once queued, like
    /// [`AsyncClient::subscribe`]. The UNSUBACK comes as [`OwnedEvent::Unsubscribed`].
    pub async fn unsubscribe(&self, filter: impl Into<String>) -> Result<(), TokioError> {
        let filter = filter.into();
        topic_filter::<std::io::Error>(&filter)?;
        self.queue(Command::Unsubscribe { filter }).await
    }

    async fn queue(&self, command: Command) -> Result<(), TokioError> {
        match self.commands.send(command).await {
            Ok(()) => Ok(()),
            Err(_) => gone(),
        }
    }

    /// Disconnects gracefully (see [`crate::Blocking::disconnect`]) and ends the event loop.
    pub async fn disconnect(&self) -> Result<(), TokioError> {
        self.ask(|reply| Command::Disconnect { reply }).await
    }
}

/// The events the driver's handler got while an operation waited.
type Queued = Arc<Mutex<VecDeque<OwnedEvent>>>;
type Handler = Box<dyn FnMut(Event<'_>) + Send>;

/// A transport that may not be connected yet.
struct Link(Option<TokioTcp>);

impl embedded_io_async::ErrorType for Link {
    type Error = std::io::Error;
}

fn not_connected() -> std::io::Error {
    std::io::ErrorKind::NotConnected.into()
}

impl embedded_io_async::Read for Link {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Some(io) => io.read(buf).await,
            None => Err(not_connected()),
        }
    }
}

impl embedded_io_async::Write for Link {
    async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Some(io) => io.write(buf).await,
            None => Err(not_connected()),
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.0 {
            Some(io) => io.flush().await,
            None => Err(not_connected()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoopState {
    Down,
    Up,
    Done,
}

/// Owns the connection: [`EventLoop::poll`] it in a loop (in its own task or beside your
/// other work). It connects at the first poll, reconnects with backoff after the link fails
/// (returning the failure once, like `rumqttc`), restores subscriptions the broker did not
/// keep, and carries out the [`AsyncClient`]s' commands.
pub struct EventLoop {
    driver: Async<Vec<u8>, Link, StdClock, TokioDelay, Handler>,
    inbox: mpsc::Receiver<Command>,
    queued: Queued,
    addr: String,
    backoff: Backoff,
    state: LoopState,
    /// A command the link failed under before it was in the session: carried out again
    /// after the reconnect.
    retry: Option<Command>,
    /// Subscriptions made through the handles, restored when a session was not resumed.
    subscriptions: Vec<(String, QoS)>,
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

    /// The next event. Connects (or reconnects) first when the link is down; carries out
    /// commands meanwhile. A link failure is returned once; the next call reconnects.
    pub async fn poll(&mut self) -> Result<OwnedEvent, TokioError> {
        loop {
            if let Some(e) = self.queued.lock().ok().and_then(|mut q| q.pop_front()) {
                if e == OwnedEvent::Disconnected {
                    self.state = LoopState::Done;
                }
                return Ok(e);
            }
            match self.state {
                LoopState::Done => return gone(),
                LoopState::Down => {
                    self.reconnect().await?;
                    continue;
                }
                LoopState::Up => {}
            }
            if let Some(command) = self.retry.take() {
                self.run(command).await?;
                continue;
            }
            tokio::select! {
                command = self.inbox.recv() => match command {
                    Some(command) => self.run(command).await?,
                    None => {
                        // Every handle is gone: finish like a disconnect.
                        let (reply, _) = oneshot::channel();
                        self.run(Command::Disconnect { reply }).await?;
                    }
                },
                event = self.driver.next_event() => {
                    let event = event.map(OwnedEvent::from);
                    return self.link_failed(event);
                }
            }
        }
    }

    /// Marks the link down on an error that closed it.
    fn link_failed<T>(&mut self, r: Result<T, TokioError>) -> Result<T, TokioError> {
        if let Err(e) = &r {
            if e.closes_connection() && self.state == LoopState::Up {
                self.state = LoopState::Down;
            }
        }
        r
    }

    /// Connects with backoff (forever by default); restores subscriptions when the session
    /// was not resumed.
    async fn reconnect(&mut self) -> Result<(), TokioError> {
        let addr = self.addr.clone();
        let open = move |_attempt: u32| {
            let addr = addr.clone();
            async move { connect(addr).await.map(|io| Link(Some(io))) }
        };
        let mut delay = TokioDelay;
        let session_present = self
            .driver
            .reconnect(open, &mut self.backoff, &mut delay)
            .await?;
        self.state = LoopState::Up;
        if let Ok(mut q) = self.queued.lock() {
            q.push_back(OwnedEvent::Connected { session_present });
        }
        if !session_present {
            for (filter, qos) in self.subscriptions.clone() {
                let pid = self.driver.subscribe(&filter, qos).await;
                self.link_failed(pid)?;
            }
        }
        Ok(())
    }

    /// Carries out one command and answers it. A link failure before the request was in the
    /// session keeps the command for after the reconnect.
    async fn run(&mut self, command: Command) -> Result<(), TokioError> {
        let failed = |e: &TokioError| matches!(e, Error::Io(_) | Error::Link(_));
        match command {
            Command::Publish {
                topic,
                payload,
                qos,
                retain,
                reply,
            } => match self.driver.publish(&topic, &payload, qos, retain).await {
                Err(e) if failed(&e) && qos != QoS::AtMostOnce => {
                    self.retry = Some(Command::Publish {
                        topic,
                        payload,
                        qos,
                        retain,
                        reply,
                    });
                    self.link_failed(Err(e))
                }
                r => {
                    // A QoS 0 message whose write failed: the caller gets the error; the next
                    // poll reconnects.
                    if matches!(&r, Err(e) if e.closes_connection()) {
                        self.state = LoopState::Down;
                    }
                    let _ = reply.send(r);
                    Ok(())
                }
            },
            // A caller's error (a SUBSCRIBE larger than the tx buffer) is returned by `poll`.
            Command::Subscribe { filter, qos } => match self.driver.subscribe(&filter, qos).await {
                Err(e) if failed(&e) => {
                    self.retry = Some(Command::Subscribe { filter, qos });
                    self.link_failed(Err(e))
                }
                Err(e) => Err(e),
                Ok(_) => {
                    self.subscriptions.retain(|(f, _)| *f != filter);
                    self.subscriptions.push((filter, qos));
                    Ok(())
                }
            },
            Command::Unsubscribe { filter } => match self.driver.unsubscribe(&filter).await {
                Err(e) if failed(&e) => {
                    self.retry = Some(Command::Unsubscribe { filter });
                    self.link_failed(Err(e))
                }
                Err(e) => Err(e),
                Ok(_) => {
                    self.subscriptions.retain(|(f, _)| *f != filter);
                    Ok(())
                }
            },
            Command::Disconnect { reply } => {
                let r = self.driver.disconnect().await;
                self.state = LoopState::Done;
                if let Ok(mut q) = self.queued.lock() {
                    q.push_back(OwnedEvent::Disconnected);
                }
                let _ = reply.send(r);
                Ok(())
            }
        }
    }
}
