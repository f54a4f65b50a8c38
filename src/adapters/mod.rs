//! Transports for the drivers: std TCP (feature `std`), tokio (feature `tokio`) and the
//! WIZnet W5500 SPI Ethernet chip (feature `w5500`, no_std).

#[cfg(feature = "std")]
pub mod std_tcp;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "w5500")]
pub mod w5500;
