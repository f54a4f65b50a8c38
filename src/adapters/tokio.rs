//! tokio for the async driver: connect a `tokio::net::TcpStream` wrapped for
//! `embedded-io-async` by `embedded-io-adapters`, and a [`TokioDelay`] for keep-alive waits.

use embedded_io_adapters::tokio_1::FromTokio;

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
