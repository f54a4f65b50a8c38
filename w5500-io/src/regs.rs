//! W5500 register map (datasheet v1.1, chapter 4): addresses, block selects and values.
//! The one place these numbers are written; the adapter and the emulator both use it.

/// Block select (BSB) of the common registers.
pub const COMMON: u8 = 0x00;

/// Block select of socket `n`'s registers.
pub const fn socket_regs(n: u8) -> u8 {
    (n << 2) | 0x01
}

/// Block select of socket `n`'s TX buffer memory.
pub const fn socket_tx(n: u8) -> u8 {
    (n << 2) | 0x02
}

/// Block select of socket `n`'s RX buffer memory.
pub const fn socket_rx(n: u8) -> u8 {
    (n << 2) | 0x03
}

/// The SPI control byte: block select, read/write bit, variable-length data mode.
pub const fn control(block: u8, write: bool) -> u8 {
    (block << 3) | if write { 0x04 } else { 0x00 }
}

/// Number of hardware sockets.
pub const SOCKETS: u8 = 8;
/// Total TX (and RX) buffer memory shared by the sockets, in bytes.
pub const BUFFER_MEMORY: usize = 16 * 1024;

// Common registers.
/// Mode register.
pub const MR: u16 = 0x0000;
/// MR: software reset (self-clearing).
pub const MR_RST: u8 = 0x80;
/// Gateway address (4 bytes).
pub const GAR: u16 = 0x0001;
/// Subnet mask (4 bytes).
pub const SUBR: u16 = 0x0005;
/// Source hardware (MAC) address (6 bytes).
pub const SHAR: u16 = 0x0009;
/// Source IP address (4 bytes).
pub const SIPR: u16 = 0x000F;
/// Retry time, in units of 100 µs (2 bytes).
pub const RTR: u16 = 0x0019;
/// Retry count.
pub const RCR: u16 = 0x001B;
/// Socket interrupt: bit n set while socket n has an unmasked interrupt pending.
pub const SIR: u16 = 0x0017;
/// Socket interrupt mask: bit n lets socket n's interrupts drive the INTn pin low.
pub const SIMR: u16 = 0x0018;
/// PHY configuration; bit 0 is the link status.
pub const PHYCFGR: u16 = 0x002E;
/// PHYCFGR: link up.
pub const PHYCFGR_LNK: u8 = 0x01;
/// Chip version: always 0x04 on a W5500.
pub const VERSIONR: u16 = 0x0039;
/// The value VERSIONR must read.
pub const VERSION: u8 = 0x04;

// Socket registers (offsets in the socket's register block).
/// Socket mode.
pub const SN_MR: u16 = 0x0000;
/// Sn_MR: TCP.
pub const SN_MR_TCP: u8 = 0x01;
/// Sn_MR: no delayed ACK.
pub const SN_MR_ND: u8 = 0x20;
/// Socket command.
pub const SN_CR: u16 = 0x0001;
/// Socket interrupt (write 1 to clear).
pub const SN_IR: u16 = 0x0002;
/// Socket status.
pub const SN_SR: u16 = 0x0003;
/// Source port (2 bytes).
pub const SN_PORT: u16 = 0x0004;
/// Destination IP address (4 bytes).
pub const SN_DIPR: u16 = 0x000C;
/// Destination port (2 bytes).
pub const SN_DPORT: u16 = 0x0010;
/// RX buffer size in KiB (0, 1, 2, 4, 8 or 16).
pub const SN_RXBUF_SIZE: u16 = 0x001E;
/// TX buffer size in KiB.
pub const SN_TXBUF_SIZE: u16 = 0x001F;
/// TX free size (2 bytes).
pub const SN_TX_FSR: u16 = 0x0020;
/// TX read pointer (2 bytes).
pub const SN_TX_RD: u16 = 0x0022;
/// TX write pointer (2 bytes).
pub const SN_TX_WR: u16 = 0x0024;
/// RX received size (2 bytes).
pub const SN_RX_RSR: u16 = 0x0026;
/// RX read pointer (2 bytes).
pub const SN_RX_RD: u16 = 0x0028;
/// RX write pointer (2 bytes).
pub const SN_RX_WR: u16 = 0x002A;
/// Socket interrupt mask: which Sn_IR bits drive INTn (reset value 0xFF).
pub const SN_IMR: u16 = 0x002C;
/// Size of a socket's register block that is modelled.
pub const SN_REGS: usize = 0x30;

// Sn_CR commands.
/// Open the socket in the protocol of Sn_MR.
pub const CMD_OPEN: u8 = 0x01;
/// Connect to Sn_DIPR:Sn_DPORT.
pub const CMD_CONNECT: u8 = 0x04;
/// Send FIN.
pub const CMD_DISCON: u8 = 0x08;
/// Close at once.
pub const CMD_CLOSE: u8 = 0x10;
/// Send the bytes between Sn_TX_RD and Sn_TX_WR.
pub const CMD_SEND: u8 = 0x20;
/// Free the RX bytes up to Sn_RX_RD.
pub const CMD_RECV: u8 = 0x40;

// Sn_IR bits.
/// Connection established.
pub const IR_CON: u8 = 0x01;
/// FIN or RST received (or the disconnect finished).
pub const IR_DISCON: u8 = 0x02;
/// Data received.
pub const IR_RECV: u8 = 0x04;
/// ARP or TCP timeout.
pub const IR_TIMEOUT: u8 = 0x08;
/// A SEND completed.
pub const IR_SEND_OK: u8 = 0x10;

// Sn_SR values.
/// Closed.
pub const SR_CLOSED: u8 = 0x00;
/// Opened in TCP mode.
pub const SR_INIT: u8 = 0x13;
/// SYN sent.
pub const SR_SYNSENT: u8 = 0x15;
/// Connected.
pub const SR_ESTABLISHED: u8 = 0x17;
/// FIN sent, waiting for the peer's.
pub const SR_FIN_WAIT: u8 = 0x18;
/// The peer sent FIN: its data is all in the RX buffer.
pub const SR_CLOSE_WAIT: u8 = 0x1C;
