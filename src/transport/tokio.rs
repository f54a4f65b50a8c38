//! tokio's TCP stream (and tokio-rustls over it, feature `tokio-rustls`; WebSocket over either,
//! feature `tokio-websocket`) seen through `embedded-io-async`, for the [`crate::Async`]
//! driver, and a tokio delay. [`open`] connects to whatever a [`BrokerUrl`] names.

#[cfg(feature = "tokio-rustls")]
use std::boxed::Box;
#[cfg(feature = "tokio-rustls")]
use std::string::String;

use embedded_io_adapters::tokio_1::FromTokio;

use super::url::{BrokerUrl, Scheme};

/// The async transport: tokio's TCP stream seen through `embedded_io_async`.
pub type TokioTcp = FromTokio<tokio::net::TcpStream>;

/// Connects to `addr` (Nagle off).
pub async fn connect(addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<TokioTcp> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(FromTokio::new(stream))
}

/// The async TLS transport (feature `tokio-rustls`): tokio-rustls seen through
/// `embedded_io_async`.
#[cfg(feature = "tokio-rustls")]
pub type TokioTls = FromTokio<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Connects to `addr` (Nagle off) and completes a TLS handshake, verifying the broker as
/// `server_name` (feature `tokio-rustls`; see [`crate::transport::tls`] for the options and the
/// errors): nothing MQTT is sent to a broker that fails verification.
#[cfg(feature = "tokio-rustls")]
pub async fn connect_tls(
    addr: impl tokio::net::ToSocketAddrs,
    server_name: &str,
    options: &crate::transport::tls::TlsOptions,
) -> std::io::Result<TokioTls> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(FromTokio::new(
        tls_over(stream, server_name, options).await?,
    ))
}

/// The TLS handshake over a connected `stream`, verifying the broker as `server_name`:
/// nothing MQTT is sent to a broker that fails verification.
#[cfg(feature = "tokio-rustls")]
async fn tls_over(
    stream: tokio::net::TcpStream,
    server_name: &str,
    options: &crate::transport::tls::TlsOptions,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use crate::transport::tls::{config_error, unwrap_tls};
    let invalid = |e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let config = options.client_config().map_err(invalid)?;
    let name = rustls::pki_types::ServerName::try_from(String::from(server_name))
        .map_err(|e| invalid(config_error("server name", e)))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(unwrap_tls)
}

/// MQTT over WebSocket for tokio (feature `tokio-websocket`): binary frames, subprotocol
/// `mqtt`, frames past the limit refused ([`super::websocket::WsFailure::TooLarge`]), as
/// [`super::websocket::WsTransport`] does for std. Reads are cancel-safe (a frame stays
/// buffered); a write queues one frame with no await after it, and `flush` sends it.
#[cfg(feature = "tokio-websocket")]
pub struct TokioWs {
    ws: tokio_tungstenite::WebSocketStream<either::Either>,
    frame: tungstenite::Bytes,
    at: usize,
}

/// TCP or TLS over it, one `AsyncRead + AsyncWrite` under a tokio WebSocket.
#[cfg(feature = "tokio-websocket")]
mod either {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::TcpStream;

    /// TCP, or TLS over it (`wss://`).
    pub(super) enum Either {
        Plain(TcpStream),
        Tls(std::boxed::Box<tokio_rustls::client::TlsStream<TcpStream>>),
    }

    impl AsyncRead for Either {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            match self.get_mut() {
                Either::Plain(s) => Pin::new(s).poll_read(cx, buf),
                Either::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            }
        }
    }

    impl AsyncWrite for Either {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            match self.get_mut() {
                Either::Plain(s) => Pin::new(s).poll_write(cx, buf),
                Either::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            }
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            match self.get_mut() {
                Either::Plain(s) => Pin::new(s).poll_flush(cx),
                Either::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            }
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            match self.get_mut() {
                Either::Plain(s) => Pin::new(s).poll_shutdown(cx),
                Either::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            }
        }
    }
}

/// Connects to a `ws://` or `wss://` `url` (TLS with `tls`, the webpki roots when `None`),
/// upgrades with subprotocol `mqtt` and refuses frames larger than `max_frame` (feature
/// `tokio-websocket`).
#[cfg(feature = "tokio-websocket")]
pub async fn connect_ws(
    url: &BrokerUrl,
    tls: Option<&crate::transport::tls::TlsOptions>,
    max_frame: usize,
) -> std::io::Result<TokioWs> {
    use super::websocket::{upgrade, ws_error};
    let stream = tokio::net::TcpStream::connect(url.socket_addr()).await?;
    stream.set_nodelay(true)?;
    let stream = match url.scheme().is_tls() {
        false => either::Either::Plain(stream),
        true => {
            let options = crate::transport::tls::TlsOptions::or_webpki(tls);
            either::Either::Tls(Box::new(tls_over(stream, url.host(), &options).await?))
        }
    };
    let (request, config) = upgrade(url, max_frame)?;
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(ws_error)?;
    Ok(TokioWs {
        ws,
        frame: tungstenite::Bytes::new(),
        at: 0,
    })
}

#[cfg(feature = "tokio-websocket")]
impl TokioWs {
    /// Bytes of the last frame not read yet.
    fn pending(&self) -> &[u8] {
        self.frame.get(self.at..).unwrap_or_default()
    }
}

#[cfg(feature = "tokio-websocket")]
impl embedded_io_async::ErrorType for TokioWs {
    type Error = std::io::Error;
}

#[cfg(feature = "tokio-websocket")]
impl embedded_io_async::Read for TokioWs {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use super::websocket::{WsFailure, failure, ws_error};
        use futures_util::StreamExt;
        use tungstenite::Message;
        while self.pending().is_empty() {
            match self.ws.next().await {
                Some(Ok(Message::Binary(payload))) if payload.is_empty() => {}
                Some(Ok(Message::Binary(payload))) => {
                    self.frame = payload;
                    self.at = 0;
                }
                Some(Ok(Message::Text(_))) => {
                    let why = "a text frame: MQTT travels in binary frames";
                    return Err(failure(WsFailure::Protocol(why.into())));
                }
                Some(Ok(Message::Close(_))) | None => return Ok(0),
                Some(Ok(_)) => {} // ping, pong: tungstenite answers pings
                Some(Err(
                    tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed,
                )) => return Ok(0),
                Some(Err(e)) => return Err(ws_error(e)),
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

#[cfg(feature = "tokio-websocket")]
impl embedded_io_async::Write for TokioWs {
    async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use super::websocket::ws_error;
        use futures_util::Sink;
        use std::pin::Pin;
        if buf.is_empty() {
            return Ok(0);
        }
        futures_util::future::poll_fn(|cx| Pin::new(&mut self.ws).poll_ready(cx))
            .await
            .map_err(ws_error)?;
        // No await from here on: a cancelled write queued nothing, a finished one its frame.
        let frame = tungstenite::Message::Binary(tungstenite::Bytes::copy_from_slice(buf));
        Pin::new(&mut self.ws).start_send(frame).map_err(ws_error)?;
        Ok(buf.len())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        use futures_util::SinkExt;
        self.ws.flush().await.map_err(super::websocket::ws_error)
    }
}

/// Opens what `url` names for the async driver: TCP (`mqtt://`), TLS (`mqtts://`, feature
/// `tokio-rustls`; `tls` or the webpki roots) or WebSocket (`ws://`, `wss://`, feature
/// `tokio-websocket`; frames up to `max_frame`).
pub async fn open(
    url: &BrokerUrl,
    #[cfg(feature = "tokio-rustls")] tls: Option<&crate::transport::tls::TlsOptions>,
    #[cfg_attr(not(feature = "tokio-websocket"), allow(unused_variables))] max_frame: usize,
) -> std::io::Result<TokioLink> {
    #[cfg_attr(
        all(feature = "tokio-rustls", feature = "tokio-websocket"),
        allow(unused_variables)
    )]
    let unsupported = |feature: &str| {
        std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            std::format!("{url} needs umqtt's feature `{feature}`"),
        )
    };
    match url.scheme() {
        Scheme::Mqtt => Ok(TokioLink::Tcp(connect(url.socket_addr()).await?)),
        #[cfg(feature = "tokio-rustls")]
        Scheme::Mqtts => {
            let options = crate::transport::tls::TlsOptions::or_webpki(tls);
            let io = connect_tls(url.socket_addr(), url.host(), &options).await?;
            Ok(TokioLink::Tls(Box::new(io)))
        }
        #[cfg(not(feature = "tokio-rustls"))]
        Scheme::Mqtts => Err(unsupported("tokio-rustls")),
        #[cfg(feature = "tokio-websocket")]
        Scheme::Ws | Scheme::Wss => {
            let io = connect_ws(url, tls, max_frame).await?;
            Ok(TokioLink::Ws(Box::new(io)))
        }
        #[cfg(not(feature = "tokio-websocket"))]
        Scheme::Ws | Scheme::Wss => Err(unsupported("tokio-websocket")),
    }
}

/// `embedded_hal_async::delay::DelayNs` over `tokio::time::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioDelay;

impl embedded_hal_async::delay::DelayNs for TokioDelay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(std::time::Duration::from_nanos(u64::from(ns))).await;
    }
}

/// One async connection to a broker over whichever transport its URL names ([`open`]), or
/// none yet: the transport of the tokio event loop.
#[non_exhaustive]
pub enum TokioLink {
    /// Not connected (every read and write is `NotConnected`).
    Down,
    /// `mqtt://`.
    Tcp(TokioTcp),
    /// `mqtts://` (feature `tokio-rustls`).
    #[cfg(feature = "tokio-rustls")]
    Tls(Box<TokioTls>),
    /// `ws://`, `wss://` (feature `tokio-websocket`).
    #[cfg(feature = "tokio-websocket")]
    Ws(Box<TokioWs>),
}

impl TokioLink {
    /// Ends the connection without a TCP reset, as [`crate::transport::tcp::close_gracefully`]
    /// does for std sockets: a WebSocket Close frame first (`ws://`, `wss://`), TLS's
    /// close_notify (`mqtts://`, `wss://`), the end of our side, then what the broker still
    /// sends is read and dropped until it closes its side, within
    /// [`CLOSE_TIMEOUT`](crate::transport::tcp::CLOSE_TIMEOUT). Leaves [`TokioLink::Down`].
    pub async fn close(&mut self) {
        let link = core::mem::replace(self, TokioLink::Down);
        let _ = tokio::time::timeout(crate::transport::tcp::CLOSE_TIMEOUT, async move {
            match link {
                TokioLink::Tcp(mut io) => finish(io.inner_mut()).await,
                #[cfg(feature = "tokio-rustls")]
                TokioLink::Tls(mut io) => finish(io.inner_mut()).await,
                #[cfg(feature = "tokio-websocket")]
                TokioLink::Ws(mut io) => {
                    let _ = io.ws.close(None).await;
                    finish(io.ws.get_mut()).await;
                }
                TokioLink::Down => {}
            }
        })
        .await;
    }
}

/// Shuts down our side of `stream` and reads until the broker closes its side.
async fn finish<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: &mut S) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut scratch = [0u8; 256];
    while matches!(stream.read(&mut scratch).await, Ok(n) if n > 0) {}
}

impl embedded_io_async::ErrorType for TokioLink {
    type Error = std::io::Error;
}

fn not_connected() -> std::io::Error {
    std::io::ErrorKind::NotConnected.into()
}

impl embedded_io_async::Read for TokioLink {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            TokioLink::Tcp(io) => io.read(buf).await,
            #[cfg(feature = "tokio-rustls")]
            TokioLink::Tls(io) => io.read(buf).await,
            #[cfg(feature = "tokio-websocket")]
            TokioLink::Ws(io) => io.read(buf).await,
            TokioLink::Down => Err(not_connected()),
        }
    }
}

impl embedded_io_async::Write for TokioLink {
    async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            TokioLink::Tcp(io) => io.write(buf).await,
            #[cfg(feature = "tokio-rustls")]
            TokioLink::Tls(io) => io.write(buf).await,
            #[cfg(feature = "tokio-websocket")]
            TokioLink::Ws(io) => io.write(buf).await,
            TokioLink::Down => Err(not_connected()),
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            TokioLink::Tcp(io) => io.flush().await,
            #[cfg(feature = "tokio-rustls")]
            TokioLink::Tls(io) => io.flush().await,
            #[cfg(feature = "tokio-websocket")]
            TokioLink::Ws(io) => io.flush().await,
            TokioLink::Down => Err(not_connected()),
        }
    }
}
