//! tokio's TCP stream (and tokio-rustls over it, feature `tokio-rustls`) seen through
//! `embedded-io-async`, for the [`crate::Async`] driver, and a tokio delay.

#[cfg(feature = "tokio-rustls")]
use std::{boxed::Box, string::String};

use embedded_io_adapters::tokio_1::FromTokio;

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
    use crate::transport::tls::{config_error, unwrap_tls};
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

/// The transport of the tokio event loop: not connected yet, TCP, or TLS.
pub(crate) enum Link {
    Down,
    Tcp(TokioTcp),
    #[cfg(feature = "tokio-rustls")]
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
            #[cfg(feature = "tokio-rustls")]
            Link::Tls(io) => io.read(buf).await,
            Link::Down => Err(not_connected()),
        }
    }
}

impl embedded_io_async::Write for Link {
    async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Link::Tcp(io) => io.write(buf).await,
            #[cfg(feature = "tokio-rustls")]
            Link::Tls(io) => io.write(buf).await,
            Link::Down => Err(not_connected()),
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Link::Tcp(io) => io.flush().await,
            #[cfg(feature = "tokio-rustls")]
            Link::Tls(io) => io.flush().await,
            Link::Down => Err(not_connected()),
        }
    }
}
