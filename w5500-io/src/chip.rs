//! The chip: register access over `SpiDevice`, bring-up, link status.

use embedded_hal::delay::DelayNs;
use embedded_hal::spi::{Operation, SpiDevice};

use super::W5500Error;
use super::regs::*;

/// Microseconds between two polls of a chip register while waiting.
pub(crate) const POLL_US: u32 = 100;

/// The network settings written at bring-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NetConfig {
    /// The chip's MAC address.
    pub mac: [u8; 6],
    /// Its IPv4 address.
    pub ip: [u8; 4],
    /// The gateway.
    pub gateway: [u8; 4],
    /// The subnet mask.
    pub subnet: [u8; 4],
}

/// A W5500 on an SPI bus. Cheap to create: it holds only the `SpiDevice` (pass `&mut spi` to
/// keep the device, or a shared-bus device to use several sockets).
#[derive(Debug)]
pub struct W5500<SPI> {
    spi: SPI,
}

/// The chip's register operations, written once: `[async] [.await]` for [`crate::AsyncW5500`],
/// `[] []` for [`W5500`] (each file brings its own `SpiDevice`, `Operation` and `DelayNs`).
macro_rules! chip_operations {
    ([$($async:tt)*] [$($await:tt)*]) => {
        /// Reads `buf.len()` bytes from `block` starting at `addr`, in one SPI transaction.
        pub $($async)* fn read(
            &mut self,
            block: u8,
            addr: u16,
            buf: &mut [u8],
        ) -> Result<(), W5500Error<SPI::Error>> {
            let [hi, lo] = addr.to_be_bytes();
            let header = [hi, lo, control(block, false)];
            self.spi
                .transaction(&mut [Operation::Write(&header), Operation::Read(buf)])
                $($await)*
                .map_err(W5500Error::Spi)
        }

        /// Writes `data` to `block` starting at `addr`, in one SPI transaction.
        pub $($async)* fn write(
            &mut self,
            block: u8,
            addr: u16,
            data: &[u8],
        ) -> Result<(), W5500Error<SPI::Error>> {
            let [hi, lo] = addr.to_be_bytes();
            let header = [hi, lo, control(block, true)];
            self.spi
                .transaction(&mut [Operation::Write(&header), Operation::Write(data)])
                $($await)*
                .map_err(W5500Error::Spi)
        }

        /// Reads one register byte.
        pub $($async)* fn read_u8(&mut self, block: u8, addr: u16) -> Result<u8, W5500Error<SPI::Error>> {
            let mut b = [0u8];
            self.read(block, addr, &mut b)$($await)*?;
            Ok(b[0])
        }

        /// Writes one register byte.
        pub $($async)* fn write_u8(&mut self, block: u8, addr: u16, v: u8) -> Result<(), W5500Error<SPI::Error>> {
            self.write(block, addr, &[v]) $($await)*
        }

        /// Reads a 16-bit register.
        pub $($async)* fn read_u16(&mut self, block: u8, addr: u16) -> Result<u16, W5500Error<SPI::Error>> {
            let mut b = [0u8; 2];
            self.read(block, addr, &mut b)$($await)*?;
            Ok(u16::from_be_bytes(b))
        }

        /// Reads a 16-bit register the chip may change between its two bytes (Sn_TX_FSR,
        /// Sn_RX_RSR) until two reads agree, as the datasheet asks; at most 8 tries.
        pub(crate) $($async)* fn read_u16_stable(
            &mut self,
            block: u8,
            addr: u16,
        ) -> Result<u16, W5500Error<SPI::Error>> {
            let mut last = self.read_u16(block, addr)$($await)*?;
            for _ in 0..8 {
                let now = self.read_u16(block, addr)$($await)*?;
                if now == last {
                    return Ok(now);
                }
                last = now;
            }
            Ok(last)
        }

        /// Writes a 16-bit register.
        pub $($async)* fn write_u16(
            &mut self,
            block: u8,
            addr: u16,
            v: u16,
        ) -> Result<(), W5500Error<SPI::Error>> {
            self.write(block, addr, &v.to_be_bytes()) $($await)*
        }

        /// Soft-resets the chip, checks VERSIONR (0x04), and writes the network settings.
        pub $($async)* fn init(
            &mut self,
            config: &NetConfig,
            delay: &mut impl DelayNs,
        ) -> Result<(), W5500Error<SPI::Error>> {
            // VERSIONR first: a missing chip reads 0x00 or 0xFF and must not be "reset" forever.
            let version = self.read_u8(COMMON, VERSIONR)$($await)*?;
            if version != VERSION {
                return Err(W5500Error::Version(version));
            }
            self.write_u8(COMMON, MR, MR_RST)$($await)*?;
            let mut reset_done = false;
            for _ in 0..100 {
                if self.read_u8(COMMON, MR)$($await)*? & MR_RST == 0 {
                    reset_done = true;
                    break;
                }
                delay.delay_us(POLL_US) $($await)*;
            }
            if !reset_done {
                return Err(W5500Error::Reset);
            }
            self.write(COMMON, SHAR, &config.mac)$($await)*?;
            self.write(COMMON, GAR, &config.gateway)$($await)*?;
            self.write(COMMON, SUBR, &config.subnet)$($await)*?;
            self.write(COMMON, SIPR, &config.ip)$($await)*?;
            Ok(())
        }

        /// Is the Ethernet link up (PHYCFGR.LNK)?
        pub $($async)* fn link_up(&mut self) -> Result<bool, W5500Error<SPI::Error>> {
            Ok(self.read_u8(COMMON, PHYCFGR)$($await)*? & PHYCFGR_LNK != 0)
        }

        /// Waits up to `timeout_ms` for the link; [`W5500Error::LinkDown`] after that.
        pub $($async)* fn wait_link(
            &mut self,
            delay: &mut impl DelayNs,
            timeout_ms: u32,
        ) -> Result<(), W5500Error<SPI::Error>> {
            for _ in 0..=timeout_ms {
                if self.link_up()$($await)*? {
                    return Ok(());
                }
                delay.delay_ms(1) $($await)*;
            }
            Err(W5500Error::LinkDown)
        }

        /// Sets the TX and RX buffer sizes of socket `n` in KiB (0, 1, 2, 4, 8 or 16; the eight
        /// sockets share 16 KiB each way; the reset value is 2). Only while the socket is closed.
        ///
        /// Refused ([`W5500Error::InvalidArgument`]) when the eight sockets would then need more
        /// than the chip's 16 KiB either way: shrink another socket first.
        pub $($async)* fn set_buffer_kib(&mut self, n: u8, tx: u8, rx: u8) -> Result<(), W5500Error<SPI::Error>> {
            if n >= SOCKETS {
                return Err(W5500Error::InvalidArgument);
            }
            let mut others = [(0u8, 0u8); SOCKETS as usize];
            for (i, sizes) in (0..SOCKETS).zip(others.iter_mut()) {
                if i != n {
                    *sizes = (
                        self.read_u8(socket_regs(i), SN_TXBUF_SIZE)$($await)*?,
                        self.read_u8(socket_regs(i), SN_RXBUF_SIZE)$($await)*?,
                    );
                }
            }
            if !buffers_fit(n, tx, rx, &others) {
                return Err(W5500Error::InvalidArgument);
            }
            self.write_u8(socket_regs(n), SN_TXBUF_SIZE, tx)$($await)*?;
            self.write_u8(socket_regs(n), SN_RXBUF_SIZE, rx) $($await)*
        }

    };
}
pub(crate) use chip_operations;

impl<SPI: SpiDevice> W5500<SPI> {
    /// Wraps the SPI device (mode 0 or 3, up to 80 MHz on the real chip).
    pub fn new(spi: SPI) -> Self {
        W5500 { spi }
    }

    /// Gives the SPI device back.
    pub fn release(self) -> SPI {
        self.spi
    }

    chip_operations!([] []);
}

/// May socket `n` get `tx` / `rx` KiB while the other sockets keep `others` (socket `n`'s own
/// entry is ignored)? Valid sizes only, and at most the chip's 16 KiB in all each way.
pub(crate) fn buffers_fit(n: u8, tx: u8, rx: u8, others: &[(u8, u8)]) -> bool {
    let valid = |k: u8| matches!(k, 0 | 1 | 2 | 4 | 8 | 16);
    let total = |own: u8, pick: fn(&(u8, u8)) -> u8| {
        (0u8..)
            .zip(others)
            .filter(|(i, _)| *i != n)
            .map(|(_, s)| usize::from(pick(s)))
            .sum::<usize>()
            + usize::from(own)
    };
    let limit = BUFFER_MEMORY / 1024;
    n < SOCKETS
        && valid(tx)
        && valid(rx)
        && total(tx, |s| s.0) <= limit
        && total(rx, |s| s.1) <= limit
}
