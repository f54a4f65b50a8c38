//! Transports for the drivers: std TCP (feature `std`), TLS over it (feature `tls`) and tokio
//! (feature `tokio`). The WIZnet
//! W5500 SPI Ethernet chip is the `w5500-io` crate of this workspace: its sockets are
//! `embedded-io` streams any driver takes.

#[cfg(feature = "embedded-tls")]
pub mod embedded_tls;
#[cfg(feature = "embedded-tls")]
mod embedded_tls_verify;
#[cfg(feature = "std")]
pub mod owned;
#[cfg(feature = "std")]
pub mod router;
#[cfg(feature = "std")]
pub mod std_client;
#[cfg(feature = "std")]
pub mod std_tcp;
#[cfg(feature = "std")]
mod subscriptions;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
