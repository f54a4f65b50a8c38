//! A W5500 in software (feature `emulator`, std): an `embedded_hal::spi::SpiDevice`
//! that decodes the chip's SPI frames, models its common and socket registers and the 16 KiB
//! TX / RX buffer memory, and bridges TCP sockets to real std TCP sockets. Firmware code
//! written against [`super::W5500`] runs unchanged on a Linux host.
//!
//! Modelled as on the chip: 16-bit address + control byte (block select, read/write,
//! variable-length mode), all operations of one transaction as one byte stream; buffer
//! addresses wrap within the socket's buffer and the pointers run free over 16 bits; OPEN,
//! CONNECT, SEND (SEND_OK once the bytes are written to the host socket), RECV, DISCON and
//! CLOSE; the peer's FIN gives CLOSE_WAIT and the DISCON interrupt once every byte before it
//! is in the RX buffer; a full RX buffer stops reading from the host socket (back-pressure:
//! no byte is dropped). Destinations in 192.0.2.0/24 (TEST-NET-1) never answer, so connect
//! timeouts can be tested; the chip then times out after RTR × RCR like the real one.
//!
//! The INTn pin ([`Emulator::int_pin`]): low while a socket enabled in SIMR has an Sn_IR
//! bit set that Sn_IMR lets through; SIR reads which. Once a pin is taken, the chip's
//! network side runs on its own (a thread, every 100 µs), as the real chip does, so
//! interrupts arrive while the firmware makes no SPI transaction.
//!
//! Buffer memory: the sockets' Sn_TXBUF_SIZE / Sn_RXBUF_SIZE are carved in socket order out
//! of 16 KiB each way; OPEN on a socket whose buffer would end past 16 KiB fails (Sn_SR
//! stays CLOSED) — on the real chip that socket would overlap another's memory.
//!
//! The network settings (`NetConfig`) are kept in the registers but not used: a socket dials
//! its destination from the host, so give it the host's address of the peer (127.0.0.1 for
//! a broker on the same machine).
//!
//! Not modelled: UDP, MACRAW, listening sockets, the common interrupts (IR, IMR), the
//! interrupt low-level timer (INTLEVEL), PHY settings.
//!
//! The handle is `Clone`: clones are more `SpiDevice`s on the same chip (like devices on a
//! shared bus); SPI transactions are counted ([`Emulator::transactions`]). It is both an
//! `embedded_hal::spi::SpiDevice` and an `embedded_hal_async::spi::SpiDevice`.

mod link;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;
use std::vec;
use std::vec::Vec;

use embedded_hal::spi::{ErrorType, Operation, SpiDevice};

use super::regs::*;
use link::{Connecting, Dialer, Link};

/// Counters of one emulated socket, for tests and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Connections established.
    pub connects: u32,
    /// Bytes sent (SEND commands' data).
    pub sent: u64,
    /// Bytes placed in the RX buffer.
    pub received: u64,
    /// Times bytes waited on the host socket while the RX buffer was full (back-pressure).
    pub rx_full: u64,
    /// Times Sn_TX_WR wrapped past 0xFFFF.
    pub tx_wraps: u32,
    /// Times Sn_RX_WR wrapped past 0xFFFF.
    pub rx_wraps: u32,
}

/// An emulated W5500; see the module documentation.
#[derive(Clone)]
pub struct Emulator {
    chip: Arc<Mutex<Chip>>,
}

impl Default for Emulator {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Emulator")
    }
}

impl Emulator {
    /// A chip just out of reset, link up.
    pub fn new() -> Self {
        Emulator {
            chip: Arc::new(Mutex::new(Chip::new())),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Chip) -> R) -> R {
        with(&self.chip, f)
    }

    /// SPI transactions made so far, by every handle on this chip.
    pub fn transactions(&self) -> u64 {
        self.with(|c| c.transactions)
    }

    /// The chip's INTn pin (`embedded_hal::digital::InputPin`,
    /// `embedded_hal_async::digital::Wait`). From the first call on, the chip's network
    /// side runs on a thread of its own every 100 µs, so the pin falls without SPI traffic.
    pub fn int_pin(&self) -> IntPin {
        let start = self.with(|c| !std::mem::replace(&mut c.running, true));
        if start {
            let chip = Arc::downgrade(&self.chip);
            std::thread::spawn(move || run_network(chip));
        }
        IntPin {
            chip: self.chip.clone(),
        }
    }

    /// Plugs or unplugs the Ethernet cable (PHYCFGR.LNK).
    pub fn set_link(&self, up: bool) {
        self.with(|c| c.link = up);
    }

    /// Makes VERSIONR read `v` (a different chip, or a broken bus).
    pub fn set_version(&self, v: u8) {
        self.with(|c| c.version = v);
    }

    /// The counters of socket `n`.
    pub fn stats(&self, n: u8) -> SocketStats {
        self.with(|c| {
            c.sockets
                .get(usize::from(n))
                .map(|s| s.stats)
                .unwrap_or_default()
        })
    }

    /// Cuts socket `n`'s connection as a network failure would (the chip sees a reset).
    pub fn cut(&self, n: u8) {
        self.with(|c| {
            if let Some(s) = c.sockets.get_mut(usize::from(n)) {
                if s.link.take().is_some() {
                    s.sr = SR_CLOSED;
                    s.ir |= IR_DISCON;
                }
            }
        });
    }
}

fn with<R>(chip: &Mutex<Chip>, f: impl FnOnce(&mut Chip) -> R) -> R {
    f(&mut chip.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The chip's own clock once an INTn pin is taken: moves bytes and raises interrupts while
/// the firmware sleeps; ends with the last handle.
fn run_network(chip: Weak<Mutex<Chip>>) {
    while let Some(chip) = chip.upgrade() {
        let wake = with(&chip, |c| {
            c.tick();
            if c.int_low() {
                std::mem::take(&mut c.wakers)
            } else {
                Vec::new()
            }
        });
        drop(chip);
        wake.into_iter().for_each(Waker::wake); // outside the lock
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// The emulated chip's INTn pin (active low); see [`Emulator::int_pin`].
#[derive(Clone)]
pub struct IntPin {
    chip: Arc<Mutex<Chip>>,
}

impl core::fmt::Debug for IntPin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IntPin")
    }
}

impl IntPin {
    /// Resolves once the pin is at `low` (true: low).
    async fn level(&self, low: bool) {
        std::future::poll_fn(|cx| {
            with(&self.chip, |c| {
                if c.int_low() == low {
                    Poll::Ready(())
                } else if low {
                    // The network thread wakes the task when the pin falls.
                    if !c.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                        c.wakers.push(cx.waker().clone());
                    }
                    Poll::Pending
                } else {
                    // Rising is rare (the firmware clears interrupts): look again.
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
        })
        .await
    }
}

impl embedded_hal::digital::ErrorType for IntPin {
    type Error = core::convert::Infallible;
}

impl embedded_hal::digital::InputPin for IntPin {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        Ok(!with(&self.chip, |c| c.int_low()))
    }

    fn is_low(&mut self) -> Result<bool, Self::Error> {
        Ok(with(&self.chip, |c| c.int_low()))
    }
}

impl embedded_hal_async::digital::Wait for IntPin {
    async fn wait_for_high(&mut self) -> Result<(), Self::Error> {
        self.level(false).await;
        Ok(())
    }

    async fn wait_for_low(&mut self) -> Result<(), Self::Error> {
        self.level(true).await;
        Ok(())
    }

    async fn wait_for_rising_edge(&mut self) -> Result<(), Self::Error> {
        self.level(true).await;
        self.level(false).await;
        Ok(())
    }

    async fn wait_for_falling_edge(&mut self) -> Result<(), Self::Error> {
        self.level(false).await;
        self.level(true).await;
        Ok(())
    }

    async fn wait_for_any_edge(&mut self) -> Result<(), Self::Error> {
        let now = with(&self.chip, |c| c.int_low());
        self.level(!now).await;
        Ok(())
    }
}

impl ErrorType for Emulator {
    type Error = core::convert::Infallible;
}

impl embedded_hal_async::spi::SpiDevice for Emulator {
    /// The blocking transaction between two yields to the executor, as a DMA transfer takes
    /// time: a caller cancelled at either yield finds the transaction not made, or made.
    async fn transaction(
        &mut self,
        operations: &mut [Operation<'_, u8>],
    ) -> Result<(), Self::Error> {
        yield_once().await;
        SpiDevice::transaction(self, operations)?;
        yield_once().await;
        Ok(())
    }
}

/// Pending once (waking itself at once), then ready.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

impl SpiDevice for Emulator {
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Self::Error> {
        let mut delays = Duration::ZERO;
        self.with(|chip| {
            chip.transactions += 1;
            chip.tick();
            let mut frame = Frame::default();
            for op in operations.iter_mut() {
                match op {
                    Operation::Write(bytes) => {
                        for &b in bytes.iter() {
                            frame.byte(chip, Some(b));
                        }
                    }
                    Operation::Read(buf) => {
                        for b in buf.iter_mut() {
                            *b = frame.byte(chip, None);
                        }
                    }
                    Operation::Transfer(read, write) => {
                        for i in 0..read.len().max(write.len()) {
                            let out = frame.byte(chip, write.get(i).copied());
                            if let Some(r) = read.get_mut(i) {
                                *r = out;
                            }
                        }
                    }
                    Operation::TransferInPlace(buf) => {
                        for b in buf.iter_mut() {
                            *b = frame.byte(chip, Some(*b));
                        }
                    }
                    Operation::DelayNs(ns) => delays += Duration::from_nanos(u64::from(*ns)),
                }
            }
            chip.tick();
        });
        if !delays.is_zero() {
            std::thread::sleep(delays);
        }
        Ok(())
    }
}

/// One SPI transaction: the 3-byte header, then data at consecutive addresses.
#[derive(Default)]
struct Frame {
    header: [u8; 3],
    pos: usize,
}

impl Frame {
    /// Clocks one byte: `mosi` in (None while the controller only reads), MISO out.
    fn byte(&mut self, chip: &mut Chip, mosi: Option<u8>) -> u8 {
        let pos = self.pos;
        self.pos += 1;
        if let Some(h) = self.header.get_mut(pos) {
            *h = mosi.unwrap_or(0);
            return 0;
        }
        let [hi, lo, control] = self.header;
        let addr = u16::from_be_bytes([hi, lo]).wrapping_add((pos - 3) as u16);
        let block = control >> 3;
        if control & 0x04 != 0 {
            if let Some(v) = mosi {
                chip.write(block, addr, v);
            }
            0
        } else {
            chip.read(block, addr)
        }
    }
}

struct Chip {
    common: [u8; 0x40],
    sockets: Vec<Socket>,
    version: u8,
    link: bool,
    /// SPI transactions so far (kept across a soft reset).
    transactions: u64,
    /// The network runs on its own thread (an INTn pin was taken).
    running: bool,
    /// Tasks waiting on INTn.
    wakers: Vec<Waker>,
}

impl Chip {
    fn new() -> Chip {
        let mut chip = Chip {
            common: [0u8; 0x40],
            sockets: (0..SOCKETS).map(|_| Socket::new()).collect(),
            version: VERSION,
            link: true,
            transactions: 0,
            running: false,
            wakers: Vec::new(),
        };
        chip.set_common(RTR, 0x07); // 2,000 × 100 µs
        chip.set_common(RTR + 1, 0xD0);
        chip.set_common(RCR, 8);
        chip
    }

    fn common(&self, addr: u16) -> u8 {
        self.common.get(usize::from(addr)).copied().unwrap_or(0)
    }

    fn set_common(&mut self, addr: u16, v: u8) {
        if let Some(r) = self.common.get_mut(usize::from(addr)) {
            *r = v;
        }
    }

    /// Advances every socket's network side.
    fn tick(&mut self) {
        for s in &mut self.sockets {
            s.tick();
        }
    }

    /// SIR: bit n while socket n has an interrupt its Sn_IMR lets through.
    fn sir(&self) -> u8 {
        (0u8..)
            .zip(&self.sockets)
            .filter(|(_, s)| s.ir & s.reg(SN_IMR) != 0)
            .fold(0, |sir, (n, _)| sir | 1 << n)
    }

    /// Is INTn driven low (an interrupt in SIR that SIMR lets through)?
    fn int_low(&self) -> bool {
        self.sir() & self.common(SIMR) != 0
    }

    /// Does socket `n`'s buffer end within the 16 KiB each way, the sockets' buffers laid
    /// out in socket order?
    fn memory_fits(&self, n: usize) -> bool {
        let end =
            |size: fn(&Socket) -> usize| self.sockets.iter().take(n + 1).map(size).sum::<usize>();
        end(Socket::tx_size) <= BUFFER_MEMORY && end(Socket::rx_size) <= BUFFER_MEMORY
    }

    fn read(&mut self, block: u8, addr: u16) -> u8 {
        let n = usize::from(block >> 2);
        match (block, self.sockets.get_mut(n)) {
            (COMMON, _) => match addr {
                VERSIONR => self.version,
                SIR => self.sir(),
                PHYCFGR => 0xB8 | 0x06 | u8::from(self.link),
                a => self.common(a),
            },
            (b, Some(s)) if b & 0x03 == 0x01 => s.read_reg(addr),
            (b, Some(s)) if b & 0x03 == 0x02 => s.tx.get(s.tx_index(addr)).copied().unwrap_or(0),
            (b, Some(s)) if b & 0x03 == 0x03 => s.rx.get(s.rx_index(addr)).copied().unwrap_or(0),
            _ => 0,
        }
    }

    fn write(&mut self, block: u8, addr: u16, v: u8) {
        let n = usize::from(block >> 2);
        match (block, self.sockets.get_mut(n)) {
            (COMMON, _) => match addr {
                MR if v & MR_RST != 0 => {
                    let (version, link, transactions) =
                        (self.version, self.link, self.transactions);
                    let (running, wakers) = (self.running, std::mem::take(&mut self.wakers));
                    *self = Chip::new();
                    (self.version, self.link, self.transactions) = (version, link, transactions);
                    (self.running, self.wakers) = (running, wakers);
                }
                VERSIONR | PHYCFGR | SIR => {}
                a => self.set_common(a, v),
            },
            (b, Some(_)) if b & 0x03 == 0x01 => {
                let rtr = u16::from_be_bytes([self.common(RTR), self.common(RTR + 1)]);
                let timeout = chip_timeout(rtr, self.common(RCR));
                let fits = self.memory_fits(n);
                if let Some(s) = self.sockets.get_mut(n) {
                    if addr == SN_CR && v == CMD_OPEN && !fits {
                        return; // no memory for this socket: OPEN fails
                    }
                    s.write_reg(addr, v, timeout);
                }
            }
            (b, Some(s)) if b & 0x03 == 0x02 => {
                let i = s.tx_index(addr);
                if let Some(m) = s.tx.get_mut(i) {
                    *m = v;
                }
            }
            _ => {} // RX memory is written by the chip only
        }
    }
}

/// The chip's TCP retransmission timeout: RTR (100 µs units) doubling per retry up to 64×…
/// as the datasheet's example (RTR 200 ms, RCR 8 → 31.8 s).
fn chip_timeout(rtr: u16, rcr: u8) -> Duration {
    let base = Duration::from_micros(u64::from(rtr) * 100);
    let mut step = base;
    let mut total = Duration::ZERO;
    for _ in 0..=rcr {
        total += step;
        step = (step * 2).min(base * 32);
    }
    total
}

struct Socket {
    regs: [u8; SN_REGS],
    tx: Vec<u8>,
    rx: Vec<u8>,
    sr: u8,
    ir: u8,
    /// The chip's side of the pointers: TX sent up to, RX written up to, RX freed up to.
    tx_rd: u16,
    rx_wr: u16,
    rx_rd: u16,
    /// The SEND being written out: its sequence number and where TX_RD goes when done.
    sending: Option<(u64, u16)>,
    sends: u64,
    dialer: Option<Dialer>,
    link: Option<Link>,
    stats: SocketStats,
}

impl Socket {
    fn new() -> Socket {
        let mut socket = Socket {
            regs: [0u8; SN_REGS],
            tx: vec![0; BUFFER_MEMORY],
            rx: vec![0; BUFFER_MEMORY],
            sr: SR_CLOSED,
            ir: 0,
            tx_rd: 0,
            rx_wr: 0,
            rx_rd: 0,
            sending: None,
            sends: 0,
            dialer: None,
            link: None,
            stats: SocketStats::default(),
        };
        socket.set_reg(SN_RXBUF_SIZE, 2);
        socket.set_reg(SN_TXBUF_SIZE, 2);
        socket.set_reg(SN_IMR, 0xFF);
        socket
    }

    fn reg(&self, at: u16) -> u8 {
        self.regs.get(usize::from(at)).copied().unwrap_or(0)
    }

    fn set_reg(&mut self, at: u16, v: u8) {
        if let Some(r) = self.regs.get_mut(usize::from(at)) {
            *r = v;
        }
    }

    fn size(&self, reg: u16) -> usize {
        let kib = self.reg(reg);
        usize::from(kib.min(16)) * 1024
    }

    fn tx_size(&self) -> usize {
        self.size(SN_TXBUF_SIZE)
    }

    fn rx_size(&self) -> usize {
        self.size(SN_RXBUF_SIZE)
    }

    /// A buffer address taken modulo the buffer size (sizes are powers of two).
    fn tx_index(&self, addr: u16) -> usize {
        usize::from(addr) & self.tx_size().wrapping_sub(1)
    }

    fn rx_index(&self, addr: u16) -> usize {
        usize::from(addr) & self.rx_size().wrapping_sub(1)
    }

    fn reg16(&self, at: u16) -> u16 {
        u16::from_be_bytes([self.reg(at), self.reg(at + 1)])
    }

    fn set_reg16(&mut self, at: u16, v: u16) {
        let [hi, lo] = v.to_be_bytes();
        self.set_reg(at, hi);
        self.set_reg(at + 1, lo);
    }

    fn tx_free(&self) -> u16 {
        let used = usize::from(self.reg16(SN_TX_WR).wrapping_sub(self.tx_rd));
        self.tx_size().saturating_sub(used) as u16
    }

    fn read_reg(&mut self, addr: u16) -> u8 {
        // The high byte at the register's address, the low byte after it.
        let pair = |v: u16, base: u16| {
            let [hi, lo] = v.to_be_bytes();
            if addr == base { hi } else { lo }
        };
        match addr {
            SN_CR => 0, // commands are taken at once
            SN_IR => self.ir,
            SN_SR => self.sr,
            a if a == SN_TX_FSR || a == SN_TX_FSR + 1 => pair(self.tx_free(), SN_TX_FSR),
            a if a == SN_TX_RD || a == SN_TX_RD + 1 => pair(self.tx_rd, SN_TX_RD),
            a if a == SN_RX_RSR || a == SN_RX_RSR + 1 => {
                pair(self.rx_wr.wrapping_sub(self.rx_rd), SN_RX_RSR)
            }
            a if a == SN_RX_WR || a == SN_RX_WR + 1 => pair(self.rx_wr, SN_RX_WR),
            a => self.reg(a),
        }
    }

    fn write_reg(&mut self, addr: u16, v: u8, timeout: Duration) {
        match addr {
            SN_CR => self.command(v, timeout),
            SN_IR => self.ir &= !v,
            SN_SR => {}
            a if (SN_TX_FSR..SN_TX_WR).contains(&a) || (SN_RX_RSR..SN_RX_RD).contains(&a) => {}
            a if a == SN_RX_WR || a == SN_RX_WR + 1 => {}
            a => self.set_reg(a, v),
        }
    }

    fn close(&mut self) {
        self.link = None;
        self.dialer = None;
        self.sending = None;
        self.sr = SR_CLOSED;
    }

    fn command(&mut self, cmd: u8, timeout: Duration) {
        match cmd {
            CMD_OPEN if self.reg(SN_MR) & 0x0F == SN_MR_TCP => {
                self.close();
                self.sr = SR_INIT;
                // Pointers start where they are; the chip keeps them free-running.
                self.rx_rd = self.rx_wr;
                self.set_reg16(SN_RX_RD, self.rx_wr);
                self.set_reg16(SN_TX_WR, self.tx_rd);
            }
            CMD_CONNECT if self.sr == SR_INIT => {
                let ip = Ipv4Addr::from([0, 1, 2, 3].map(|i| self.reg(SN_DIPR + i)));
                let addr = SocketAddr::from((ip, self.reg16(SN_DPORT)));
                let [a, b, c, _] = ip.octets();
                let black_hole = [a, b, c] == [192, 0, 2];
                self.dialer = Some(Dialer::start(addr, timeout, black_hole));
                self.sr = SR_SYNSENT;
            }
            CMD_DISCON => match &self.link {
                Some(link) if self.sr == SR_ESTABLISHED || self.sr == SR_CLOSE_WAIT => {
                    link.shutdown_write();
                    if self.sr == SR_CLOSE_WAIT {
                        // Both FINs exchanged.
                        self.close();
                        self.ir |= IR_DISCON;
                    } else {
                        self.sr = SR_FIN_WAIT;
                    }
                }
                _ => self.close(),
            },
            CMD_CLOSE => self.close(),
            CMD_SEND if self.sr == SR_ESTABLISHED || self.sr == SR_CLOSE_WAIT => {
                let Some(link) = &self.link else { return };
                let wr = self.reg16(SN_TX_WR);
                let len = usize::from(wr.wrapping_sub(self.tx_rd)).min(self.tx_size());
                let bytes: Vec<u8> = (0..len)
                    .map(|i| {
                        let at = self.tx_index(self.tx_rd.wrapping_add(i as u16));
                        self.tx.get(at).copied().unwrap_or(0)
                    })
                    .collect();
                link.send(bytes);
                self.sends += 1;
                self.sending = Some((self.sends, wr));
                self.stats.sent += len as u64;
                if wr < self.tx_rd {
                    self.stats.tx_wraps += 1;
                }
            }
            CMD_RECV => self.rx_rd = self.reg16(SN_RX_RD),
            _ => {}
        }
    }

    fn tick(&mut self) {
        if let Some(dialer) = &self.dialer {
            match dialer.poll() {
                Connecting::Pending => {}
                Connecting::Up(link) => {
                    self.dialer = None;
                    self.link = Some(link);
                    // The chip re-initialises the TX pointers while TCP connects (datasheet
                    // 4.2, Sn_TX_WR): move them, so a driver that kept the value from OPEN
                    // writes in the wrong place and fails its tests.
                    let start = self.tx_rd.wrapping_add(0x0123);
                    self.tx_rd = start;
                    self.set_reg16(SN_TX_WR, start);
                    self.sr = SR_ESTABLISHED;
                    self.ir |= IR_CON;
                    self.stats.connects += 1;
                }
                Connecting::Failed => {
                    self.close();
                    self.ir |= IR_TIMEOUT;
                }
            }
        }
        let Some(link) = &self.link else { return };
        // Received bytes into the RX buffer, as far as it has room.
        let free = self
            .rx_size()
            .saturating_sub(usize::from(self.rx_wr.wrapping_sub(self.rx_rd)));
        let (mask, start) = (self.rx_size().wrapping_sub(1), self.rx_wr);
        let mut wr = start;
        let rx = &mut self.rx;
        let (n, more, fin, reset) = link.receive(free, |b| {
            if let Some(m) = rx.get_mut(usize::from(wr) & mask) {
                *m = b;
            }
            wr = wr.wrapping_add(1);
        });
        self.rx_wr = wr;
        if n > 0 {
            self.ir |= IR_RECV;
            self.stats.received += n as u64;
            if wr < start {
                self.stats.rx_wraps += 1;
            }
        }
        if more && n == free {
            self.stats.rx_full += 1;
        }
        // SEND completion.
        let (done, failed) = link.sent();
        if let Some((seq, target)) = self.sending {
            if done >= seq {
                self.tx_rd = target;
                self.sending = None;
                self.ir |= IR_SEND_OK;
            }
        }
        if failed || reset {
            self.close();
            self.ir |= IR_DISCON | IR_TIMEOUT;
        } else if fin {
            match self.sr {
                SR_ESTABLISHED => {
                    self.sr = SR_CLOSE_WAIT;
                    self.ir |= IR_DISCON;
                }
                SR_FIN_WAIT => {
                    self.close();
                    self.ir |= IR_DISCON;
                }
                _ => {}
            }
        }
    }
}
