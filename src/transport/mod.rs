//! Transports: byte streams the drivers read and write. Std TCP ([`tcp`], feature `std`),
//! rustls over it ([`tls`], feature `rustls`), embedded-tls over any blocking `embedded-io`
//! stream ([`embedded_tls`], feature `embedded-tls`) and tokio's TCP (and tokio-rustls) for the
//! async driver ([`tokio`], feature `tokio`), WebSocket ([`websocket`], feature `websocket`).
//! [`url`] names a broker (`mqtt://`, `mqtts://`, `ws://`, `wss://`) and [`link`] opens
//! whichever transport it names. The WIZnet W5500 SPI Ethernet chip is the
//! `w5500-io` crate of this workspace: its sockets are `embedded-io` streams any driver takes.
//!
//! Nothing MQTT lives here: a transport only moves bytes (and says when a read timed out).

#[cfg(feature = "embedded-tls")]
pub mod embedded_tls;
#[cfg(feature = "std")]
pub mod link;
#[cfg(feature = "std")]
pub mod tcp;
#[cfg(feature = "rustls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "std")]
pub mod url;
#[cfg(feature = "websocket")]
pub mod websocket;
