//! MQTT over WebSocket for the blocking and non-blocking drivers (feature `websocket`, which
//! brings `rustls` for `wss://`): tungstenite does the framing, subprotocol `mqtt`, binary
//! frames.
//! MQTT packets split across frames and several packets in one frame are both one byte
//! stream here; pings are answered, a close frame is the end of the stream, and a frame (or
//! message) larger than the limit given to [`WsTransport::connect`] is refused with
//! [`WsFailure::TooLarge`] before it is buffered.
//!
//! ```no_run
//! use umqtt::transport::url::BrokerUrl;
//! use umqtt::transport::websocket::WsTransport;
//!
//! let url: BrokerUrl = "ws://127.0.0.1:8080/".parse()?;
//! let io = WsTransport::connect(&url, None, 64 * 1024)?;
//! // `io` is the transport of `Blocking::new` or `NonBlocking::new`.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::string::{String, ToString};
use std::time::Duration;

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Bytes, Message, WebSocket};

use super::tls::TlsOptions;
use super::url::BrokerUrl;

/// How long the TCP connect, the TLS and the WebSocket handshakes may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The read timeout afterwards: how often a blocked read returns to service keep-alive.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// Why a WebSocket connection failed or ended, inside the `io::Error` the transport returns
/// (`InvalidData`; `get_ref()` and `downcast_ref` reach it).
#[derive(Debug)]
#[non_exhaustive]
pub enum WsFailure {
    /// A frame or message larger than the limit (the client's rx buffer): refused, the
    /// connection is closed.
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The broker refused the upgrade: an HTTP status other than 101 (a wrong path, no
    /// WebSocket listener there). A broker that does not accept subprotocol `mqtt` is a
    /// [`WsFailure::Protocol`] error.
    Refused(String),
    /// A text frame, or a frame that breaks RFC 6455.
    Protocol(String),
}

impl fmt::Display for WsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsFailure::TooLarge { size, limit } => write!(
                f,
                "a WebSocket frame of {size} bytes is larger than the {limit} the client accepts"
            ),
            WsFailure::Refused(why) => write!(f, "the WebSocket upgrade was refused: {why}"),
            WsFailure::Protocol(why) => write!(f, "WebSocket protocol error: {why}"),
        }
    }
}

impl std::error::Error for WsFailure {}

pub(crate) fn failure(f: WsFailure) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, f)
}

/// A tungstenite error as the transport's `io::Error`; `Ok(())` for a closed connection (the
/// caller reads it as end of stream).
pub(crate) fn ws_error(e: tungstenite::Error) -> io::Error {
    use tungstenite::error::{CapacityError, Error as E};
    match e {
        E::Io(e) => e,
        E::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            failure(WsFailure::TooLarge {
                size,
                limit: max_size,
            })
        }
        E::ConnectionClosed | E::AlreadyClosed => io::ErrorKind::NotConnected.into(),
        E::Http(response) => failure(WsFailure::Refused(std::format!(
            "HTTP {}",
            response.status()
        ))),
        E::Protocol(p) => failure(WsFailure::Protocol(p.to_string())),
        other => failure(WsFailure::Protocol(other.to_string())),
    }
}

/// The byte stream under the WebSocket: TCP, or TLS over TCP (`wss://`).
enum Stream {
    Plain(TcpStream),
    Tls(std::boxed::Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => match s.read(buf) {
                // The peer closed without close_notify, as brokers do: end of stream.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other.map_err(super::tls::unwrap_tls),
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// MQTT over a WebSocket connection, implementing `embedded_io::{Read, Write, ReadReady,
/// WriteReady}` like [`super::tcp::TcpTransport`]: a 100 ms read timeout reads as
/// `ErrorKind::TimedOut` ("no data yet"); the readiness answers never block. Each write is
/// one binary frame.
pub struct WsTransport {
    ws: WebSocket<Stream>,
    /// The payload of the last binary frame, from `at` on not yet read.
    frame: Bytes,
    at: usize,
    /// Closed already ([`WsTransport::close`]): nothing to do when dropped.
    ended: bool,
}

impl fmt::Debug for WsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsTransport")
            .field("peer", &self.ws.get_ref().tcp().peer_addr().ok())
            .finish()
    }
}

impl WsTransport {
    /// Connects to a `ws://` or `wss://` `url` (TLS with `tls`, or the webpki roots when
    /// `None`), upgrades with subprotocol `mqtt` at the URL's path, and
    /// refuses frames larger than `max_frame` (give the client's rx size). Errors are
    /// `io::Error`s: I/O, TLS ([`super::tls::TlsFailure`]) or [`WsFailure`].
    pub fn connect(
        url: &BrokerUrl,
        tls: Option<&TlsOptions>,
        max_frame: usize,
    ) -> io::Result<Self> {
        let tcp = connect_tcp(url)?;
        let stream = match url.scheme().is_tls() {
            false => Stream::Plain(tcp),
            true => {
                let options = TlsOptions::or_webpki(tls);
                let (conn, sock) = super::tls::handshake(tcp, url.host(), &options)?;
                Stream::Tls(std::boxed::Box::new(rustls::StreamOwned::new(conn, sock)))
            }
        };
        let (request, config) = upgrade(url, max_frame)?;
        let (ws, _response) =
            match tungstenite::client::client_with_config(request, stream, Some(config)) {
                Ok(done) => done,
                Err(HandshakeError::Failure(e)) => return Err(ws_error(e)),
                Err(HandshakeError::Interrupted(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the WebSocket upgrade timed out",
                    ));
                }
            };
        ws.get_ref().tcp().set_read_timeout(Some(READ_TIMEOUT))?;
        Ok(WsTransport {
            ws,
            frame: Bytes::new(),
            at: 0,
            ended: false,
        })
    }

    /// The TCP socket under the WebSocket (and TLS).
    pub fn socket(&self) -> &TcpStream {
        self.ws.get_ref().tcp()
    }

    /// Reads one WebSocket message; `Ok(false)` at the end of the stream (a close frame).
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            match self.ws.read() {
                // An empty frame carries nothing: not worth a read that would wait.
                Ok(Message::Binary(payload)) if payload.is_empty() => {}
                Ok(Message::Binary(payload)) => {
                    self.frame = payload;
                    self.at = 0;
                    return Ok(true);
                }
                Ok(Message::Text(_)) => {
                    return Err(failure(WsFailure::Protocol(
                        "a text frame: MQTT travels in binary frames".into(),
                    )));
                }
                // Pings are answered by tungstenite (the pong goes out with the next write).
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(_)) => {
                    let _ = self.ws.flush(); // the answering close frame: a clean close
                    return Ok(false);
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(false);
                }
                Err(e) => return Err(ws_error(e)),
            }
        }
    }

    /// Bytes of the last frame not read yet.
    fn pending(&self) -> &[u8] {
        self.frame.get(self.at..).unwrap_or_default()
    }
}

/// The upgrade request for `url` (subprotocol `mqtt`, the URL's path) and the limits: frames
/// and messages up to `max_frame` bytes, every write sent at once.
pub(crate) fn upgrade(
    url: &BrokerUrl,
    max_frame: usize,
) -> io::Result<(tungstenite::handshake::client::Request, WebSocketConfig)> {
    let scheme = if url.scheme().is_tls() { "wss" } else { "ws" };
    let uri = std::format!("{scheme}://{}{}", url.socket_addr(), url.path());
    let mut request = uri.into_client_request().map_err(ws_error)?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tungstenite::http::HeaderValue::from_static("mqtt"),
    );
    let config = WebSocketConfig::default()
        .max_frame_size(Some(max_frame))
        .max_message_size(Some(max_frame))
        .read_buffer_size(max_frame.clamp(4096, 128 * 1024))
        .write_buffer_size(0);
    Ok((request, config))
}

/// A TCP connection to `url`'s host and port, with no delay and the handshake's timeouts.
pub(crate) fn connect_tcp(url: &BrokerUrl) -> io::Result<TcpStream> {
    use std::net::ToSocketAddrs;
    let mut last = io::Error::from(io::ErrorKind::NotFound);
    let mut connected = None;
    for addr in url.socket_addr().to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, HANDSHAKE_TIMEOUT) {
            Ok(sock) => {
                connected = Some(sock);
                break;
            }
            Err(e) => last = e,
        }
    }
    let sock = connected.ok_or(last)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    sock.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
    Ok(sock)
}

impl Drop for WsTransport {
    fn drop(&mut self) {
        self.end(false);
    }
}

impl WsTransport {
    /// Ends the connection once the driver's `disconnect` returned, as
    /// [`super::tcp::TcpTransport::close`] does, after a WebSocket Close frame (and under
    /// `wss://` TLS's close_notify). Dropping it does the same without waiting for the
    /// broker's end.
    pub fn close(&mut self) {
        self.end(true);
    }

    /// A Close frame the way RFC 6455 asks, before the TCP connection ends (best effort,
    /// within a short write timeout; under `wss://` then TLS's close_notify), then the
    /// socket without a reset ([`super::tcp::close_gracefully`], waiting with `wait`).
    fn end(&mut self, wait: bool) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let _ = self
            .ws
            .get_ref()
            .tcp()
            .set_write_timeout(Some(READ_TIMEOUT));
        if self.ws.close(None).is_ok() {
            let _ = self.ws.flush();
        }
        if let Stream::Tls(s) = self.ws.get_mut() {
            s.conn.send_close_notify();
            while s.conn.wants_write() && s.conn.write_tls(&mut s.sock).is_ok_and(|n| n > 0) {}
        }
        super::tcp::close_gracefully(self.ws.get_ref().tcp(), wait);
    }
}

impl embedded_io::ErrorType for WsTransport {
    type Error = io::Error;
}

impl embedded_io::Read for WsTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending().is_empty() {
            match self.next_frame() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                // A read timeout shows as WouldBlock on Unix: report it as TimedOut.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                Err(e) => return Err(e),
            }
        }
        let pending = self.pending();
        let n = pending.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), pending.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.at += n;
        Ok(n)
    }
}

impl embedded_io::Write for WsTransport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.ws
            .send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(ws_error)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.ws.flush().map_err(ws_error)
    }
}

impl embedded_io::ReadReady for WsTransport {
    /// True when bytes of a frame wait, or a whole frame (or the end of the stream) can be
    /// read now: the socket is switched to non-blocking for one look (two `fcntl`s and a
    /// read attempt), so a frame still arriving does not hold the caller.
    fn read_ready(&mut self) -> io::Result<bool> {
        if !self.pending().is_empty() {
            return Ok(true);
        }
        // tungstenite reads ahead: whole frames may wait in its buffer with the socket (and
        // TLS) empty, so look with a read that cannot block rather than at the socket.
        self.ws.get_ref().tcp().set_nonblocking(true)?;
        let looked = self.next_frame();
        self.ws.get_ref().tcp().set_nonblocking(false)?;
        match looked {
            Ok(_) => Ok(true), // a frame, or the end of the stream: the next read says which
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl embedded_io::WriteReady for WsTransport {
    fn write_ready(&mut self) -> io::Result<bool> {
        super::tcp::ready(self.ws.get_ref().tcp(), true)
    }
}
