//! One TCP client socket of the chip as an `embedded-io-async` stream, waiting for data by
//! polling or on the chip's INTn pin.

use core::convert::Infallible;

use embassy_futures::select::select;
use embedded_hal_async::delay::DelayNs;
use embedded_hal_async::digital::Wait;
use embedded_hal_async::spi::SpiDevice;

use super::async_chip::AsyncW5500;
use super::chip::POLL_US;
use super::regs::*;
use super::socket::{COMMAND_POLLS, Rx, first_port, next_port, polls, sendable, socket_steps};
use super::{Timeouts, W5500Error};

/// In interrupt mode, the longest sleep between two looks at the socket while INTn stays
/// high: a safety net (a missed or mis-wired interrupt costs latency, not a hang).
pub const INTERRUPT_GUARD_MS: u32 = 1_000;

/// The socket interrupts that wake a waiting read: data, the peer's FIN or RST, a timeout.
const READ_WAKE: u8 = IR_RECV | IR_DISCON | IR_TIMEOUT;

/// The "pin" of a socket in polling mode ([`AsyncTcpSocket::new`]). It is never waited on
/// there; its `Wait` methods return at once, so do not hand it to
/// [`AsyncTcpSocket::with_interrupt`] (the reads would spin).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPin;

impl embedded_hal::digital::ErrorType for NoPin {
    type Error = Infallible;
}

impl Wait for NoPin {
    async fn wait_for_high(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    async fn wait_for_low(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    async fn wait_for_rising_edge(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    async fn wait_for_falling_edge(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    async fn wait_for_any_edge(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// A TCP client on socket `n` of a W5500 over async SPI: `embedded_io_async::{Read, Write}`,
/// the transport of umqtt's async driver.
///
/// - **Polling** ([`AsyncTcpSocket::new`]): a waiting read looks at the socket every 100 µs
///   (three SPI transactions each time; waits are counted in polls, so with a delay that
///   oversleeps — tokio's timer has 1 ms steps — timeouts stretch alike).
/// - **Interrupt** ([`AsyncTcpSocket::with_interrupt`]): the socket's RECV / DISCON /
///   TIMEOUT interrupts are unmasked (Sn_IMR, SIMR) and a waiting read sleeps on the INTn
///   pin (`embedded_hal_async::digital::Wait::wait_for_low`, e.g. an embassy `ExtiInput` or
///   RP2040 `Input`), at most [`INTERRUPT_GUARD_MS`]: an idle connection costs no SPI
///   traffic. INTn is shared by the chip's sockets; a socket clears only its own interrupts
///   and, while another socket holds the pin low, falls back to polling. `connect` and
///   `close` update SIMR by read-modify-write: connect the sockets of one chip from one task
///   (or one at a time), or two tasks may each lose the other's bit.
///
/// Cancel-safe, as the async driver needs (it races `read` against its keep-alive timer):
/// - `read` waits for data without a timeout (the driver wakes itself for keep-alive); the
///   bytes it returns are freed in the chip (RECV) at the start of the next call, so a
///   cancelled read has taken nothing.
/// - `write` only copies into the chip's TX buffer; the bytes go out (SEND) on `flush` or the
///   next `write`. A write cancelled before it returns has taken nothing, and no byte is
///   ever sent twice. One transaction cannot be made safe: a `write` or `flush` cancelled
///   inside the SPI transaction that issues SEND does not know whether the chip got it; it
///   is never issued twice, so if it was lost the next `write`/`flush` ends in
///   [`W5500Error::WriteTimeout`] after [`Timeouts::write_ms`] (a clean close) instead.
///
/// `connect`, `write` and `flush` wait by polling, bounded by [`Timeouts`]
/// ([`Timeouts::read_ms`] does not apply: reads wait until data or the end). Unlike the
/// blocking socket, a `write` alone does not send: flush (umqtt's drivers always do).
/// `into_parts` drops what the socket tracked: bytes written and not flushed, and the
/// freeing of bytes the last read returned.
#[derive(Debug)]
pub struct AsyncTcpSocket<SPI, D, P = NoPin> {
    chip: AsyncW5500<SPI>,
    n: u8,
    delay: D,
    timeouts: Timeouts,
    pin: Option<P>,
    send_pending: bool,
    next_port: u16,
    /// Where the next write puts its bytes (our copy of Sn_TX_WR: a write cancelled after
    /// moving the register leaves it ahead, and the next write puts its bytes here again).
    tx_wr: u16,
    /// Sn_TX_WR at the last SEND: bytes between it and `tx_wr` are written, not yet sent.
    sent_wr: u16,
    /// Polls spent waiting to send since the last progress (bounded by `write_ms`).
    stalled: u32,
    /// Bytes returned by the last read and not yet freed in the chip: the new Sn_RX_RD.
    rx_unfreed: Option<u16>,
}

impl<SPI: SpiDevice, D: DelayNs> AsyncTcpSocket<SPI, D, NoPin> {
    /// Socket `n` (0–7) of `chip`, not yet connected, polling while it waits.
    pub fn new(
        chip: AsyncW5500<SPI>,
        n: u8,
        delay: D,
        timeouts: Timeouts,
    ) -> Result<Self, W5500Error<SPI::Error>> {
        if n >= SOCKETS {
            return Err(W5500Error::InvalidArgument);
        }
        Ok(AsyncTcpSocket {
            chip,
            n,
            delay,
            timeouts,
            pin: None,
            send_pending: false,
            next_port: first_port(n),
            tx_wr: 0,
            sent_wr: 0,
            stalled: 0,
            rx_unfreed: None,
        })
    }

    /// Waits for data on the chip's INTn pin instead of polling (from the next `connect`).
    pub fn with_interrupt<P: Wait>(self, pin: P) -> AsyncTcpSocket<SPI, D, P> {
        AsyncTcpSocket {
            chip: self.chip,
            n: self.n,
            delay: self.delay,
            timeouts: self.timeouts,
            pin: Some(pin),
            send_pending: self.send_pending,
            next_port: self.next_port,
            tx_wr: self.tx_wr,
            sent_wr: self.sent_wr,
            stalled: self.stalled,
            rx_unfreed: self.rx_unfreed,
        }
    }
}

impl<SPI: SpiDevice, D: DelayNs, P: Wait> AsyncTcpSocket<SPI, D, P> {
    /// The chip, for its registers.
    pub fn chip(&mut self) -> &mut AsyncW5500<SPI> {
        &mut self.chip
    }

    /// Takes the socket apart (the pin is `None` in polling mode).
    pub fn into_parts(self) -> (AsyncW5500<SPI>, D, Option<P>) {
        (self.chip, self.delay, self.pin)
    }

    socket_steps!([async] [.await]);

    /// Connects to `ip:port` from the next local port, closing whatever the socket had open
    /// first; in interrupt mode, unmasks the socket's read interrupts. Waits at most
    /// [`Timeouts::connect_ms`]. Not cancel-safe: cancelled, connect again.
    pub async fn connect(&mut self, ip: [u8; 4], port: u16) -> Result<(), W5500Error<SPI::Error>> {
        let regs = self.regs();
        self.close().await?;
        self.chip.write_u8(regs, SN_IR, 0xFF).await?;
        self.chip
            .write_u8(regs, SN_MR, SN_MR_TCP | SN_MR_ND)
            .await?;
        let local = self.next_port;
        self.next_port = next_port(local);
        self.chip.write_u16(regs, SN_PORT, local).await?;
        self.chip.write(regs, SN_DIPR, &ip).await?;
        self.chip.write_u16(regs, SN_DPORT, port).await?;
        if self.pin.is_some() {
            self.chip.write_u8(regs, SN_IMR, READ_WAKE).await?;
            let simr = self.chip.read_u8(COMMON, SIMR).await?;
            self.chip.write_u8(COMMON, SIMR, simr | 1 << self.n).await?;
        }
        self.command(CMD_OPEN).await?;
        if self.status().await? != SR_INIT {
            return Err(W5500Error::ConnectFailed);
        }
        self.command(CMD_CONNECT).await?;
        for _ in 0..=polls(self.timeouts.connect_ms) {
            match self.status().await? {
                SR_ESTABLISHED => {
                    // Sn_TX_WR is re-initialised while TCP connects (datasheet 4.2): read it
                    // now, not at OPEN.
                    self.tx_wr = self.chip.read_u16(regs, SN_TX_WR).await?;
                    self.sent_wr = self.tx_wr;
                    self.stalled = 0;
                    return Ok(());
                }
                SR_CLOSED => return Err(W5500Error::ConnectFailed),
                _ => self.delay.delay_us(POLL_US).await,
            }
        }
        self.close().await?;
        Err(W5500Error::ConnectTimeout)
    }

    /// Sends FIN once the last SEND has finished, waits (up to [`Timeouts::write_ms`]) for
    /// the peer's; closes the socket in any case.
    pub async fn disconnect(&mut self) -> Result<(), W5500Error<SPI::Error>> {
        if self.is_connected().await? {
            let _ = embedded_io_async::Write::flush(self).await;
            self.command(CMD_DISCON).await?;
            for _ in 0..polls(self.timeouts.write_ms) {
                if self.status().await? == SR_CLOSED {
                    break;
                }
                self.delay.delay_us(POLL_US).await;
            }
        }
        self.close().await
    }

    /// Closes the socket at once (no FIN handshake); in interrupt mode, clears its
    /// interrupts and masks it in SIMR, so it cannot hold the shared INTn low.
    pub async fn close(&mut self) -> Result<(), W5500Error<SPI::Error>> {
        self.command(CMD_CLOSE).await?;
        for _ in 0..COMMAND_POLLS {
            if self.status().await? == SR_CLOSED {
                // Only once closed: a close cancelled earlier leaves the connection and
                // the bytes still to free as they were.
                self.rx_unfreed = None;
                self.send_pending = false;
                if self.pin.is_some() {
                    let regs = self.regs();
                    self.chip.write_u8(regs, SN_IR, 0xFF).await?;
                    let simr = self.chip.read_u8(COMMON, SIMR).await?;
                    self.chip
                        .write_u8(COMMON, SIMR, simr & !(1 << self.n))
                        .await?;
                }
                return Ok(());
            }
            self.delay.delay_us(POLL_US).await;
        }
        Err(W5500Error::CommandTimeout)
    }

    /// Frees in the chip the bytes the last read returned (RECV). Repeating it is harmless,
    /// so a cancelled call leaves nothing wrong.
    async fn free_rx(&mut self) -> Result<(), W5500Error<SPI::Error>> {
        if let Some(rd) = self.rx_unfreed {
            let regs = self.regs();
            self.chip.write_u16(regs, SN_RX_RD, rd).await?;
            self.command(CMD_RECV).await?;
            self.rx_unfreed = None;
        }
        Ok(())
    }

    /// Sleeps until there may be news: INTn low (or [`INTERRUPT_GUARD_MS`]) in interrupt
    /// mode, [`POLL_US`] otherwise. When INTn is low for another socket (SIR names it, not
    /// this one), it sleeps [`POLL_US`] too: no spinning on a pin someone else holds.
    async fn idle(&mut self) -> Result<(), W5500Error<SPI::Error>> {
        let Some(pin) = &mut self.pin else {
            self.delay.delay_us(POLL_US).await;
            return Ok(());
        };
        // A pin error ends the wait like the guard: the caller looks again.
        let _ = select(pin.wait_for_low(), self.delay.delay_ms(INTERRUPT_GUARD_MS)).await;
        if self.chip.read_u8(COMMON, SIR).await? & (1 << self.n) == 0 {
            self.delay.delay_us(POLL_US).await;
        }
        Ok(())
    }

    /// Issues SEND for the bytes written since the last one; false when there were none.
    /// They count as sent before the command goes out: a SEND cancelled on its way is never
    /// issued twice (its bytes then stay, and `flush` ends in [`W5500Error::WriteTimeout`]).
    async fn send_unsent(&mut self) -> Result<bool, W5500Error<SPI::Error>> {
        if self.sent_wr == self.tx_wr {
            return Ok(false);
        }
        self.sent_wr = self.tx_wr;
        self.send_pending = true;
        self.command(CMD_SEND).await?;
        Ok(true)
    }

    /// Waits one poll for the chip to send or make room: [`W5500Error::WriteTimeout`] once
    /// the waits since the last progress add up to [`Timeouts::write_ms`] — counted across
    /// calls, so writes cancelled and retried cannot wait forever.
    async fn wait_to_send(&mut self) -> Result<(), W5500Error<SPI::Error>> {
        if self.stalled >= polls(self.timeouts.write_ms) {
            return Err(W5500Error::WriteTimeout);
        }
        self.stalled += 1;
        self.delay.delay_us(POLL_US).await;
        Ok(())
    }

    /// Has the last SEND finished? Clears SEND_OK when it has.
    async fn send_done(&mut self) -> Result<bool, W5500Error<SPI::Error>> {
        if !self.send_pending {
            return Ok(true);
        }
        let regs = self.regs();
        let ir = self.chip.read_u8(regs, SN_IR).await?;
        if ir & IR_SEND_OK != 0 {
            self.chip.write_u8(regs, SN_IR, IR_SEND_OK).await?;
            self.send_pending = false;
            self.stalled = 0;
            return Ok(true);
        }
        if ir & IR_TIMEOUT != 0 {
            return Err(W5500Error::Closed);
        }
        Ok(false)
    }
}

impl<SPI: SpiDevice, D, P> embedded_io_async::ErrorType for AsyncTcpSocket<SPI, D, P> {
    type Error = W5500Error<SPI::Error>;
}

impl<SPI: SpiDevice, D: DelayNs, P: Wait> embedded_io_async::Read for AsyncTcpSocket<SPI, D, P> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.free_rx().await?;
        let regs = self.regs();
        loop {
            if self.pin.is_some() {
                // Cleared before looking, so bytes arriving after the look pull INTn low.
                self.chip
                    .write_u8(regs, SN_IR, READ_WAKE & !IR_TIMEOUT)
                    .await?;
            }
            match self.rx_state().await? {
                Rx::Data(avail) => {
                    let len = buf.len().min(usize::from(avail));
                    let rd = self.chip.read_u16(regs, SN_RX_RD).await?;
                    if let Some(dst) = buf.get_mut(..len) {
                        self.chip.read(socket_rx(self.n), rd, dst).await?;
                    }
                    // No await from here to the return: the bytes are the caller's.
                    self.rx_unfreed = Some(rd.wrapping_add(len as u16));
                    return Ok(len);
                }
                Rx::End => return Ok(0),
                Rx::Wait => self.idle().await?,
                Rx::Closed => return Err(W5500Error::Closed),
            }
        }
    }
}

impl<SPI: SpiDevice, D: DelayNs, P: Wait> embedded_io_async::Write for AsyncTcpSocket<SPI, D, P> {
    /// Copies into the chip's TX buffer once the previous SEND completed (issuing the SEND
    /// of earlier bytes first); the bytes go out on `flush` or the next `write`.
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        let regs = self.regs();
        loop {
            if !sendable(self.status().await?) {
                return Err(W5500Error::Closed);
            }
            if self.send_done().await? {
                if self.send_unsent().await? {
                    continue;
                }
                let free = self.chip.read_u16_stable(regs, SN_TX_FSR).await?;
                if free > 0 {
                    let len = buf.len().min(usize::from(free));
                    let data = buf.get(..len).unwrap_or_default();
                    self.chip.write(socket_tx(self.n), self.tx_wr, data).await?;
                    let end = self.tx_wr.wrapping_add(len as u16);
                    self.chip.write_u16(regs, SN_TX_WR, end).await?;
                    // No await from here to the return: the bytes are taken.
                    self.tx_wr = end;
                    self.stalled = 0;
                    return Ok(len);
                }
            }
            self.wait_to_send().await?;
        }
    }

    /// Sends what was written and waits until the chip reports it sent (SEND_OK).
    async fn flush(&mut self) -> Result<(), Self::Error> {
        loop {
            if self.send_done().await? && !self.send_unsent().await? {
                return Ok(());
            }
            if !sendable(self.status().await?) {
                return Err(W5500Error::Closed);
            }
            self.wait_to_send().await?;
        }
    }
}
