//! tokio: a cloneable [`TokioClient`] any task publishes and subscribes through, and an
//! [`EventLoop`] that owns the connection, reconnects with backoff and restores
//! subscriptions — plus the pieces for driving [`crate::Async`] yourself: [`connect`](crate::transport::tokio::connect) (a
//! `tokio::net::TcpStream` seen through `embedded-io-async`) and [`TokioDelay`](crate::transport::tokio::TokioDelay).
//!
//! ```no_run
//! use umqtt::managed::tokio::{TokioClient, OwnedEvent};
//! use umqtt::{ConnectOptions, QoS};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, mut eventloop) = TokioClient::new("127.0.0.1:1883", ConnectOptions::new("app")?, 64)?;
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

mod event_loop;

use std::string::String;
use std::vec::Vec;

use tokio::sync::{mpsc, oneshot};

use crate::driver::steps::{topic_filter, topic_name};
use crate::error::LinkError;
pub use crate::managed::owned::{Message, OwnedEvent};
use crate::transport::url::IntoBrokers;
use crate::{Client, ConnectOptions, Error, PacketId, QoS, StdError};
pub use event_loop::EventLoop;

/// What a handle asks the event loop to do, with where the answer goes.
pub(super) enum Command {
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

/// A cloneable handle to an [`EventLoop`]. [`TokioClient::subscribe`] and
/// [`TokioClient::unsubscribe`] return once the command is queued (call them before the
/// event loop runs, if you like). [`TokioClient::publish`] and [`TokioClient::disconnect`]
/// wait for the event loop's answer — room in the in-flight window, the packet id — so the
/// event loop must be polled by another task meanwhile: awaiting them in the task that polls
/// it never returns. Calls wait while the event loop reconnects; they fail with
/// [`LinkError::NotConnected`] once it is gone.
#[derive(Debug, Clone)]
pub struct TokioClient {
    commands: mpsc::Sender<Command>,
}

/// The answer to a command whose event loop is gone.
pub(super) fn gone<T>() -> Result<T, StdError> {
    Err(LinkError::NotConnected.into())
}

impl TokioClient {
    /// A handle and the event loop for a client with `options`, connecting to `brokers` (a
    /// URL — `mqtt://`, `mqtts://` (feature `tokio-rustls`), `ws://`, `wss://` (feature
    /// `tokio-websocket`), or a bare `host:port` — or a list tried in order, one round per
    /// connection attempt) at the event loop's first [`EventLoop::poll`]. `capacity` bounds
    /// the commands waiting for the event loop. Buffers: rx and tx of 64 KiB (the largest
    /// packet either way) and a 256 KiB session store; see [`TokioClient::with_client`] to
    /// choose. A URL that does not parse is the error (`InvalidInput`).
    pub fn new(
        brokers: impl IntoBrokers,
        options: ConnectOptions<'_>,
        capacity: usize,
    ) -> Result<(TokioClient, EventLoop), StdError> {
        let client = crate::managed::owned::client(options)?;
        TokioClient::with_client(client, brokers, capacity)
    }

    /// Like [`TokioClient::new`], over a client you built (your buffer sizes).
    pub fn with_client(
        client: Client<Vec<u8>>,
        brokers: impl IntoBrokers,
        capacity: usize,
    ) -> Result<(TokioClient, EventLoop), StdError> {
        let brokers = brokers
            .into_brokers()
            .map_err(|e| Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
        let (commands, inbox) = mpsc::channel(capacity.max(1));
        Ok((
            TokioClient { commands },
            EventLoop::new(client, inbox, brokers),
        ))
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
    /// [`TokioClient::subscribe`]. The UNSUBACK comes as [`OwnedEvent::Unsubscribed`].
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
