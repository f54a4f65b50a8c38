//! Transports for the drivers: std TCP (feature `std`) and tokio (feature `tokio`).

#[cfg(feature = "std")]
pub mod std_tcp;
#[cfg(feature = "tokio")]
pub mod tokio;
