//! The chip over an async SPI bus (`embedded_hal_async::spi::SpiDevice`: embassy's SPI
//! drivers, DMA): the same registers and bring-up as [`crate::W5500`], awaited.

use embedded_hal_async::delay::DelayNs;
use embedded_hal_async::spi::{Operation, SpiDevice};

use super::W5500Error;
use super::chip::{NetConfig, POLL_US, buffers_fit, chip_operations};
use super::regs::*;

/// A W5500 on an async SPI bus: [`crate::W5500`]'s operations as `async fn`s. Holds only
/// the `SpiDevice`.
#[derive(Debug)]
pub struct AsyncW5500<SPI> {
    spi: SPI,
}

impl<SPI: SpiDevice> AsyncW5500<SPI> {
    /// Wraps the SPI device (mode 0 or 3, up to 80 MHz on the real chip).
    pub fn new(spi: SPI) -> Self {
        AsyncW5500 { spi }
    }

    /// Gives the SPI device back.
    pub fn release(self) -> SPI {
        self.spi
    }

    chip_operations!([async] [.await]);
}
