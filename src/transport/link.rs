//! The std transport a [`BrokerUrl`] names (feature `std`): [`StdLink`] opens `mqtt://` as
//! TCP, `mqtts://` as TLS (feature `rustls`), `ws://` and `wss://` as WebSocket (feature
//! `websocket`), and is one `embedded_io` stream whichever it is — what
//! [`crate::StdClient`] reconnects over.

use std::io;

use super::tcp::TcpTransport;
#[cfg(feature = "rustls")]
use super::tls::{TlsOptions, TlsTransport};
use super::url::{BrokerUrl, Scheme};
#[cfg(feature = "websocket")]
use super::websocket::WsTransport;

/// How [`StdLink::open`] connects besides the URL: TLS options for `mqtts://` and `wss://`
/// (the webpki roots when none), and the largest WebSocket frame accepted.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    #[cfg(feature = "rustls")]
    tls: Option<TlsOptions>,
    max_frame: usize,
}

impl LinkOptions {
    /// No TLS options of yours; WebSocket frames up to `max_frame` bytes (the client's rx).
    pub fn new(max_frame: usize) -> Self {
        LinkOptions {
            #[cfg(feature = "rustls")]
            tls: None,
            max_frame,
        }
    }

    /// Whom to trust and who we are for `mqtts://` and `wss://` (feature `rustls`).
    #[cfg(feature = "rustls")]
    pub fn tls(mut self, options: TlsOptions) -> Self {
        self.tls = Some(options);
        self
    }
}

/// One connection to a broker, over whichever transport its URL names.
#[derive(Debug)]
#[non_exhaustive]
pub enum StdLink {
    /// `mqtt://`.
    Tcp(TcpTransport),
    /// `mqtts://` (feature `rustls`).
    #[cfg(feature = "rustls")]
    Tls(std::boxed::Box<TlsTransport>),
    /// `ws://` and `wss://` (feature `websocket`).
    #[cfg(feature = "websocket")]
    Ws(std::boxed::Box<WsTransport>),
}

#[cfg_attr(feature = "websocket", allow(dead_code))]
fn unsupported(url: &BrokerUrl, feature: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        std::format!("{url} needs umqtt's feature `{feature}`"),
    )
}

/// Runs `$body` with `$t` bound to the transport inside.
macro_rules! each {
    ($link:expr, $t:ident => $body:expr) => {
        match $link {
            StdLink::Tcp($t) => $body,
            #[cfg(feature = "rustls")]
            StdLink::Tls($t) => $body,
            #[cfg(feature = "websocket")]
            StdLink::Ws($t) => $body,
        }
    };
}

impl StdLink {
    /// A placeholder until the first connection (every read and write is `NotConnected`).
    pub fn disconnected() -> Self {
        StdLink::Tcp(TcpTransport::disconnected())
    }

    /// The TCP socket under it (none before the first connection): what a loop that waits
    /// on several things polls. Bytes TLS or WebSocket already buffered do not show on it:
    /// ask `read_ready` first.
    pub fn socket(&self) -> Option<&std::net::TcpStream> {
        match self {
            StdLink::Tcp(t) => t.stream(),
            #[cfg(feature = "rustls")]
            StdLink::Tls(t) => t.socket(),
            #[cfg(feature = "websocket")]
            StdLink::Ws(t) => Some(t.socket()),
        }
    }

    /// Ends the connection once the driver's `disconnect` returned, without a TCP reset,
    /// waiting for the broker's end (at most [`crate::transport::tcp::CLOSE_TIMEOUT`]):
    /// [`TcpTransport::close`], and the same for TLS and WebSocket. Then it is a placeholder.
    pub fn close(&mut self) {
        each!(self, t => t.close());
        *self = StdLink::disconnected();
    }

    /// Connects to `url` (and does the TLS and WebSocket handshakes it needs).
    pub fn open(url: &BrokerUrl, options: &LinkOptions) -> io::Result<Self> {
        match url.scheme() {
            Scheme::Mqtt => TcpTransport::connect(url.socket_addr()).map(StdLink::Tcp),
            #[cfg(feature = "rustls")]
            Scheme::Mqtts => {
                let tls = TlsOptions::or_webpki(options.tls.as_ref());
                TlsTransport::connect(url.socket_addr(), url.host(), &tls)
                    .map(|t| StdLink::Tls(t.into()))
            }
            #[cfg(not(feature = "rustls"))]
            Scheme::Mqtts => Err(unsupported(url, "rustls")),
            #[cfg(feature = "websocket")]
            Scheme::Ws | Scheme::Wss => {
                WsTransport::connect(url, options.tls.as_ref(), options.max_frame)
                    .map(|t| StdLink::Ws(t.into()))
            }
            #[cfg(not(feature = "websocket"))]
            Scheme::Ws | Scheme::Wss => {
                let _ = options.max_frame;
                Err(unsupported(url, "websocket"))
            }
        }
    }
}

impl embedded_io::ErrorType for StdLink {
    type Error = io::Error;
}

impl embedded_io::Read for StdLink {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each!(self, t => t.read(buf))
    }
}

impl embedded_io::Write for StdLink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each!(self, t => t.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        each!(self, t => t.flush())
    }
}

impl embedded_io::ReadReady for StdLink {
    fn read_ready(&mut self) -> io::Result<bool> {
        each!(self, t => t.read_ready())
    }
}

impl embedded_io::WriteReady for StdLink {
    fn write_ready(&mut self) -> io::Result<bool> {
        each!(self, t => t.write_ready())
    }
}
