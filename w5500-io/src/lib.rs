//! # w5500-io
//!
//! The WIZnet W5500 SPI Ethernet chip with its TCP sockets as `embedded-io` streams: no_std,
//! no heap, no `unsafe`, for any protocol on top (MQTT, HTTP, …).
//!
//! [`W5500`] talks to the chip over an `embedded_hal::spi::SpiDevice` (bring-up: VERSIONR
//! check, soft reset, MAC / IP / gateway / subnet, link status); [`TcpSocket`] is one of its
//! eight hardware sockets as an `embedded_io::{Read, Write, ReadReady, WriteReady}` stream.
//! Every wait is bounded by [`Timeouts`] or a fixed poll count and ends in a [`W5500Error`],
//! never a hang.
//!
//! ```no_run
//! # fn demo<SPI: embedded_hal::spi::SpiDevice, D: embedded_hal::delay::DelayNs + Clone>(spi: SPI, mut delay: D)
//! # -> Result<(), w5500_io::W5500Error<SPI::Error>> {
//! use w5500_io::{NetConfig, TcpSocket, Timeouts, W5500};
//!
//! let mut chip = W5500::new(spi);
//! chip.init(&NetConfig {
//!     mac: [0x02, 0, 0, 0, 0, 1],
//!     ip: [192, 168, 1, 50],
//!     gateway: [192, 168, 1, 1],
//!     subnet: [255, 255, 255, 0],
//! }, &mut delay)?;
//! chip.wait_link(&mut delay, 3_000)?;
//! let mut socket = TcpSocket::new(chip, 0, delay, Timeouts::default())?;
//! socket.connect([192, 168, 1, 10], 1883)?;
//! // `socket` is an embedded-io stream: e.g. the transport of an MQTT client (`umqtt`).
//! # Ok(()) }
//! ```
//!
//! Over an async SPI bus (`embedded_hal_async::spi::SpiDevice`), [`AsyncW5500`] and
//! [`AsyncTcpSocket`] do the same as `embedded_io_async` streams, waiting for data by
//! polling or, with [`AsyncTcpSocket::with_interrupt`], on the chip's INTn pin.
//!
//! With feature `emulator` (std), `emulator::Emulator` is a W5500 in software that bridges
//! its sockets to real TCP sockets, so the same firmware code runs on a Linux host.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[cfg(feature = "emulator")]
extern crate std;

mod async_chip;
mod async_socket;
mod chip;
mod error;
pub mod regs;
mod socket;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use async_chip::AsyncW5500;
pub use async_socket::{AsyncTcpSocket, INTERRUPT_GUARD_MS, NoPin};
pub use chip::{NetConfig, W5500};
pub use error::W5500Error;
pub use socket::{TcpSocket, Timeouts};
