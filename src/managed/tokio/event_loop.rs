//! The tokio event loop: owns the connection, carries out the handles' commands.

use std::boxed::Box;
use std::collections::VecDeque;
#[cfg(feature = "tokio-rustls")]
use std::string::String;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use tokio::sync::{mpsc, oneshot};

use super::{Command, gone};
use crate::StdClock;
use crate::driver::reconnect::worth_retrying_std;
use crate::error::LinkError;
use crate::managed::owned::{ExactlyOnce, Message, OwnedEvent};
use crate::managed::subscriptions::{Answer, Resend, Subscriptions};
use crate::transport::tokio::{TokioDelay, TokioLink, open};
use crate::transport::url::{BrokerUrl, Scheme};
use crate::{Async, Backoff, Client, Error, Event, PacketId, QoS, StdError};

/// The events the driver's handler got while an operation waited.
type Queued = Arc<Mutex<VecDeque<OwnedEvent>>>;
type Handler = Box<dyn FnMut(Event<'_>) + Send>;

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
/// twice), and carries out the [`TokioClient`](super::TokioClient)s' commands. After
/// [`OwnedEvent::Disconnected`] (or a refusal that retrying cannot change, or the backoff's
/// last attempt, returned once) every poll returns [`LinkError::NotConnected`]: stop polling
/// then.
pub struct EventLoop {
    driver: Async<Vec<u8>, TokioLink, StdClock, TokioDelay, Handler>,
    inbox: mpsc::Receiver<Command>,
    queued: Queued,
    /// The brokers, tried in order; `next`: where the next round starts (after a broker that
    /// opened but failed at the MQTT level).
    brokers: Vec<BrokerUrl>,
    next: usize,
    /// TLS options for `mqtts://` and `wss://`, and (from [`EventLoop::use_tls`]) a name that
    /// overrides the URL's host, with TLS for `mqtt://` too.
    #[cfg(feature = "tokio-rustls")]
    tls: Option<(Option<String>, crate::transport::tls::TlsOptions)>,
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
    /// The event loop of a new handle: connects to `brokers` at the first poll.
    pub(super) fn new(
        client: Client<Vec<u8>>,
        inbox: mpsc::Receiver<Command>,
        brokers: Vec<BrokerUrl>,
    ) -> Self {
        let queued: Queued = Arc::default();
        let handled = queued.clone();
        let handler: Handler = Box::new(move |e: Event<'_>| {
            if let Ok(mut q) = handled.lock() {
                q.push_back(e.into());
            }
        });
        let driver = Async::new(
            client,
            TokioLink::Down,
            StdClock::new(),
            TokioDelay,
            handler,
        );
        EventLoop {
            driver,
            inbox,
            queued,
            brokers,
            next: 0,
            #[cfg(feature = "tokio-rustls")]
            tls: None,
            backoff: Backoff::default(),
            state: LoopState::Down,
            current: None,
            subscriptions: Subscriptions::default(),
            exactly_once: ExactlyOnce::default(),
            lost: VecDeque::new(),
            resend: VecDeque::new(),
            retry_at: None,
        }
    }

    /// Sets the backoff between reconnect attempts (default: 100 ms doubling to 10 s,
    /// unlimited attempts).
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    /// The core, for its state and counters.
    pub fn client(&self) -> &Client<Vec<u8>> {
        self.driver.client()
    }

    /// Connects over TLS (feature `tokio-rustls`) whatever the URLs say, verifying every
    /// broker as `server_name`; every reconnect does the same. Call it before the first poll.
    /// For `mqtts://` and `wss://` URLs, [`EventLoop::set_tls`] is enough.
    #[cfg(feature = "tokio-rustls")]
    pub fn use_tls(&mut self, server_name: &str, options: crate::transport::tls::TlsOptions) {
        self.tls = Some((Some(server_name.into()), options));
    }

    /// Whom to trust and who we are for `mqtts://` and `wss://` brokers (feature
    /// `tokio-rustls`; without it the webpki roots). Takes effect at the next connection.
    #[cfg(feature = "tokio-rustls")]
    pub fn set_tls(&mut self, options: crate::transport::tls::TlsOptions) {
        self.tls = Some((None, options));
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
                        if !worth_retrying_std(&e) {
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
                    Some(ms) if worth_retrying_std(&e) => {
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
        self.next = 0; // the next reconnect tries the list from its first broker again
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

    /// One round over the brokers: opens the first transport that answers (TCP, TLS or
    /// WebSocket, as its URL says) and connects on it: session_present.
    async fn attempt(&mut self) -> Result<bool, StdError> {
        let max_frame = self.driver.client().rx_capacity();
        let mut last = std::io::Error::from(std::io::ErrorKind::NotFound);
        let n = self.brokers.len();
        for i in (0..n).map(|j| (self.next + j) % n) {
            let Some(url) = self.brokers.get(i) else {
                continue;
            };
            #[cfg(feature = "tokio-rustls")]
            let opened = match &self.tls {
                // `use_tls`: TLS to every broker, verified as the name given.
                Some((Some(name), options)) if url.scheme() == Scheme::Mqtt => {
                    crate::transport::tokio::connect_tls(url.socket_addr(), name, options)
                        .await
                        .map(|io| TokioLink::Tls(Box::new(io)))
                }
                tls => open(url, tls.as_ref().map(|(_, o)| o), max_frame).await,
            };
            #[cfg(not(feature = "tokio-rustls"))]
            let opened = {
                let _ = Scheme::Mqtt;
                open(url, max_frame).await
            };
            match opened {
                Ok(io) => {
                    self.next = i + 1;
                    self.driver.replace_transport(io);
                    return self.driver.connect().await;
                }
                Err(e) => last = e,
            }
        }
        self.next = 0;
        Err(Error::Io(last))
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
                                dup: false,
                            };
                            self.exactly_once.keep(pid, message);
                        }
                        let _ = reply.send(Ok(pid));
                    }
                    // In the session. Another command waiting is carried out first, so a
                    // burst leaves in one write (its own write takes this one along, as
                    // does the wait for events); a lone publish is written now. Either
                    // way, resent after a reconnect.
                    if !self.inbox.is_empty() {
                        return Ok(());
                    }
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
            Command::Disconnect { .. } => {
                let done = self.driver.disconnect().await;
                // DISCONNECT written: the socket is closed without a reset (which would
                // make the broker drop what it had not read yet).
                let mut link = self.driver.replace_transport(TokioLink::Down);
                link.close().await;
                Outcome::Disconnect(done)
            }
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
