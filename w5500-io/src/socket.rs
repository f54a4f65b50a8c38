//! One TCP client socket of the chip as an embedded-io transport.

use embedded_hal::delay::DelayNs;
use embedded_hal::spi::SpiDevice;

use super::chip::POLL_US;
use super::regs::*;
use super::{W5500, W5500Error};

/// Bounds on every wait of a [`TcpSocket`], in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timeouts {
    /// How long `connect` waits for ESTABLISHED (default 5,000).
    pub connect_ms: u32,
    /// How long `read` waits for data before [`W5500Error::ReadTimeout`] (default 100: the
    /// blocking driver's keep-alive tick; 0 checks once).
    pub read_ms: u32,
    /// How long `write` and `flush` wait for the previous SEND to complete and for TX space
    /// (default 5,000).
    pub write_ms: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: 5_000,
            read_ms: 100,
            write_ms: 5_000,
        }
    }
}

/// Polls for `ms` milliseconds at [`POLL_US`].
pub(crate) const fn polls(ms: u32) -> u32 {
    ms.saturating_mul(1_000 / POLL_US)
}

/// Polls of Sn_CR before a command counts as not accepted (the chip takes microseconds).
pub(crate) const COMMAND_POLLS: u32 = 100;

/// First local port tried; each connect takes the next one, so a broker never sees a new
/// connection from a port still in TIME_WAIT.
const EPHEMERAL_PORT: u16 = 49_152;

/// The first local port socket `n` uses (each socket its own range of 1,024).
pub(crate) fn first_port(n: u8) -> u16 {
    EPHEMERAL_PORT.wrapping_add(u16::from(n) * 1024)
}

/// The local port after `port`, skipping 0.
pub(crate) fn next_port(port: u16) -> u16 {
    match port.wrapping_add(1) {
        0 => EPHEMERAL_PORT,
        p => p,
    }
}

/// What a read finds, from the socket status (Sn_SR) and the bytes received (Sn_RX_RSR),
/// read in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rx {
    /// Bytes wait.
    Data(u16),
    /// The peer sent FIN and every byte before it has been read: end of stream.
    End,
    /// Connected, nothing yet.
    Wait,
    /// Closed, reset or never connected.
    Closed,
}

impl Rx {
    /// The one rule for reading the chip's receive state (CLOSE_WAIT with nothing received
    /// means every byte before the FIN has been read, because the status was read first).
    pub(crate) fn of(status: u8, avail: u16) -> Rx {
        match (status, avail) {
            (_, avail) if avail > 0 => Rx::Data(avail),
            (SR_CLOSE_WAIT, _) => Rx::End,
            (SR_ESTABLISHED | SR_FIN_WAIT, _) => Rx::Wait,
            _ => Rx::Closed,
        }
    }
}

/// Can we send in this state (the peer may have sent FIN; we have not)?
pub(crate) fn sendable(status: u8) -> bool {
    matches!(status, SR_ESTABLISHED | SR_CLOSE_WAIT)
}

/// A TCP client on socket `n` of a W5500: `embedded_io::{Read, Write, ReadReady,
/// WriteReady}`, so it carries the blocking and the non-blocking drivers.
///
/// `read` waits up to [`Timeouts::read_ms`] and then reports [`W5500Error::ReadTimeout`]
/// (`ErrorKind::TimedOut`), which the blocking driver takes as "no data yet". A peer's FIN
/// (CLOSE_WAIT) reads as end of stream once its data has been read.
#[derive(Debug)]
pub struct TcpSocket<SPI, D> {
    chip: W5500<SPI>,
    n: u8,
    delay: D,
    timeouts: Timeouts,
    send_pending: bool,
    next_port: u16,
}

/// The register steps both sockets share, written once: `[async] [.await]` for
/// [`crate::AsyncTcpSocket`], `[] []` for [`TcpSocket`] (each has the fields `chip`, `n` and
/// `delay`, and brings its own `DelayNs`). `connect` and `close` differ (the async socket
/// unmasks and masks its interrupt around them) and stay with each socket.
macro_rules! socket_steps {
    ([$($async:tt)*] [$($await:tt)*]) => {
        fn regs(&self) -> u8 {
            socket_regs(self.n)
        }

        /// The socket status (Sn_SR).
        pub $($async)* fn status(&mut self) -> Result<u8, W5500Error<SPI::Error>> {
            self.chip.read_u8(self.regs(), SN_SR) $($await)*
        }

        /// Is the connection established (or half-closed by the peer with data left to read)?
        pub $($async)* fn is_connected(&mut self) -> Result<bool, W5500Error<SPI::Error>> {
            Ok(matches!(self.status() $($await)*?, SR_ESTABLISHED | SR_CLOSE_WAIT))
        }

        /// Issues a socket command and waits (bounded) for the chip to accept it.
        $($async)* fn command(&mut self, cmd: u8) -> Result<(), W5500Error<SPI::Error>> {
            let regs = self.regs();
            self.chip.write_u8(regs, SN_CR, cmd) $($await)*?;
            for _ in 0..COMMAND_POLLS {
                if self.chip.read_u8(regs, SN_CR) $($await)*? == 0 {
                    return Ok(());
                }
                self.delay.delay_us(POLL_US) $($await)*;
            }
            Err(W5500Error::CommandTimeout)
        }

        /// Status, then bytes received: in that order ([`Rx::of`]).
        $($async)* fn rx_state(&mut self) -> Result<Rx, W5500Error<SPI::Error>> {
            let status = self.status() $($await)*?;
            let avail = self.chip.read_u16_stable(self.regs(), SN_RX_RSR) $($await)*?;
            Ok(Rx::of(status, avail))
        }
    };
}
pub(crate) use socket_steps;

impl<SPI: SpiDevice, D: DelayNs> TcpSocket<SPI, D> {
    /// Socket `n` (0–7) of `chip`, not yet connected.
    pub fn new(
        chip: W5500<SPI>,
        n: u8,
        delay: D,
        timeouts: Timeouts,
    ) -> Result<Self, W5500Error<SPI::Error>> {
        if n >= SOCKETS {
            return Err(W5500Error::InvalidArgument);
        }
        Ok(TcpSocket {
            chip,
            n,
            delay,
            timeouts,
            send_pending: false,
            next_port: first_port(n),
        })
    }

    /// The chip, for its registers.
    pub fn chip(&mut self) -> &mut W5500<SPI> {
        &mut self.chip
    }

    /// Takes the socket apart.
    pub fn into_parts(self) -> (W5500<SPI>, D) {
        (self.chip, self.delay)
    }

    socket_steps!([] []);

    /// Connects to `ip:port` from the next local port, closing whatever the socket had
    /// open first. Waits at most [`Timeouts::connect_ms`].
    pub fn connect(&mut self, ip: [u8; 4], port: u16) -> Result<(), W5500Error<SPI::Error>> {
        let regs = self.regs();
        self.close()?;
        self.chip.write_u8(regs, SN_IR, 0xFF)?;
        self.chip.write_u8(regs, SN_MR, SN_MR_TCP | SN_MR_ND)?;
        let local = self.next_port;
        self.next_port = next_port(local);
        self.chip.write_u16(regs, SN_PORT, local)?;
        self.chip.write(regs, SN_DIPR, &ip)?;
        self.chip.write_u16(regs, SN_DPORT, port)?;
        self.command(CMD_OPEN)?;
        if self.status()? != SR_INIT {
            return Err(W5500Error::ConnectFailed);
        }
        self.command(CMD_CONNECT)?;
        for _ in 0..=polls(self.timeouts.connect_ms) {
            match self.status()? {
                SR_ESTABLISHED => {
                    self.send_pending = false;
                    return Ok(());
                }
                SR_CLOSED => return Err(W5500Error::ConnectFailed),
                _ => self.delay.delay_us(POLL_US),
            }
        }
        self.close()?;
        Err(W5500Error::ConnectTimeout)
    }

    /// Sends FIN once the last SEND has finished (up to [`Timeouts::write_ms`]), waits as long
    /// for the peer's; closes the socket in any case.
    pub fn disconnect(&mut self) -> Result<(), W5500Error<SPI::Error>> {
        if self.is_connected()? {
            // Unsent data would otherwise race the FIN; a failed flush ends in CLOSE anyway.
            let _ = embedded_io::Write::flush(self);
            self.command(CMD_DISCON)?;
            for _ in 0..polls(self.timeouts.write_ms) {
                if self.status()? == SR_CLOSED {
                    break;
                }
                self.delay.delay_us(POLL_US);
            }
        }
        self.close()
    }

    /// Closes the socket at once (no FIN handshake).
    pub fn close(&mut self) -> Result<(), W5500Error<SPI::Error>> {
        self.command(CMD_CLOSE)?;
        for _ in 0..COMMAND_POLLS {
            if self.status()? == SR_CLOSED {
                self.send_pending = false;
                return Ok(());
            }
            self.delay.delay_us(POLL_US);
        }
        Err(W5500Error::CommandTimeout)
    }

    /// Has the last SEND finished? Clears SEND_OK when it has.
    fn send_done(&mut self) -> Result<bool, W5500Error<SPI::Error>> {
        if !self.send_pending {
            return Ok(true);
        }
        let regs = self.regs();
        let ir = self.chip.read_u8(regs, SN_IR)?;
        if ir & IR_SEND_OK != 0 {
            self.chip.write_u8(regs, SN_IR, IR_SEND_OK)?;
            self.send_pending = false;
            return Ok(true);
        }
        if ir & IR_TIMEOUT != 0 {
            return Err(W5500Error::Closed);
        }
        Ok(false)
    }

    /// Copies up to `free` bytes of `buf` into the TX buffer and issues SEND.
    fn put(&mut self, buf: &[u8], free: u16) -> Result<usize, W5500Error<SPI::Error>> {
        let regs = self.regs();
        let len = buf.len().min(usize::from(free));
        let data = buf.get(..len).unwrap_or_default();
        let wr = self.chip.read_u16(regs, SN_TX_WR)?;
        // The chip wraps the address within the socket's buffer (free-running pointer).
        self.chip.write(socket_tx(self.n), wr, data)?;
        self.chip
            .write_u16(regs, SN_TX_WR, wr.wrapping_add(len as u16))?;
        self.command(CMD_SEND)?;
        self.send_pending = true;
        Ok(len)
    }

    /// Copies up to `avail` received bytes into `buf` and frees them with RECV.
    fn take(&mut self, buf: &mut [u8], avail: u16) -> Result<usize, W5500Error<SPI::Error>> {
        let regs = self.regs();
        let len = buf.len().min(usize::from(avail));
        let rd = self.chip.read_u16(regs, SN_RX_RD)?;
        if let Some(dst) = buf.get_mut(..len) {
            self.chip.read(socket_rx(self.n), rd, dst)?;
        }
        self.chip
            .write_u16(regs, SN_RX_RD, rd.wrapping_add(len as u16))?;
        self.command(CMD_RECV)?;
        Ok(len)
    }
}

impl<SPI: SpiDevice, D> embedded_io::ErrorType for TcpSocket<SPI, D> {
    type Error = W5500Error<SPI::Error>;
}

impl<SPI: SpiDevice, D: DelayNs> embedded_io::Read for TcpSocket<SPI, D> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        let max = polls(self.timeouts.read_ms);
        for i in 0..=max {
            match self.rx_state()? {
                Rx::Data(avail) => return self.take(buf, avail),
                Rx::End => return Ok(0),
                Rx::Wait => {}
                Rx::Closed => return Err(W5500Error::Closed),
            }
            if i < max {
                self.delay.delay_us(POLL_US);
            }
        }
        Err(W5500Error::ReadTimeout)
    }
}

impl<SPI: SpiDevice, D: DelayNs> embedded_io::ReadReady for TcpSocket<SPI, D> {
    /// True when bytes wait, or when the connection ended (the next read reports it).
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.rx_state()? != Rx::Wait)
    }
}

impl<SPI: SpiDevice, D: DelayNs> embedded_io::Write for TcpSocket<SPI, D> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        let max = polls(self.timeouts.write_ms);
        for i in 0..=max {
            if !sendable(self.status()?) {
                return Err(W5500Error::Closed);
            }
            if self.send_done()? {
                let free = self.chip.read_u16_stable(self.regs(), SN_TX_FSR)?;
                if free > 0 {
                    return self.put(buf, free);
                }
            }
            if i < max {
                self.delay.delay_us(POLL_US);
            }
        }
        Err(W5500Error::WriteTimeout)
    }

    /// Waits until the last SEND completed.
    fn flush(&mut self) -> Result<(), Self::Error> {
        for _ in 0..=polls(self.timeouts.write_ms) {
            if self.send_done()? {
                return Ok(());
            }
            if !sendable(self.status()?) {
                return Err(W5500Error::Closed);
            }
            self.delay.delay_us(POLL_US);
        }
        Err(W5500Error::WriteTimeout)
    }
}

impl<SPI: SpiDevice, D: DelayNs> embedded_io::WriteReady for TcpSocket<SPI, D> {
    /// True when a write would go through at once, or when the connection ended (the next
    /// write reports it).
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        if !sendable(self.status()?) {
            return Ok(true);
        }
        Ok(self.send_done()? && self.chip.read_u16_stable(self.regs(), SN_TX_FSR)? > 0)
    }
}
