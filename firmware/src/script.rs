//! A scripted broker in memory, for firmware that must run without a network (under QEMU):
//! it answers with fixed bytes once the client has written a given number of packets, and
//! advances a virtual clock while the client waits, so keep-alive happens in milliseconds.

use core::sync::atomic::{AtomicU32, Ordering};

/// Milliseconds of virtual time; the transport advances it on every read that finds no data.
pub static NOW_MS: AtomicU32 = AtomicU32::new(0);

/// Virtual milliseconds a read without data takes (the blocking driver's read timeout).
const IDLE_MS: u32 = 100;

/// The virtual clock, as a [`umqtt::driver::time::Clock`].
pub fn now_ms() -> u64 {
    u64::from(NOW_MS.load(Ordering::Relaxed))
}

/// One step of a connection's script.
pub enum Step {
    /// Once the client has written this many packets on the connection, send these bytes.
    Send(u8, &'static [u8]),
    /// Once the client has written this many packets, cut the connection.
    Cut(u8),
}

/// Counts the packets in the client's output: fixed header, remaining length, body.
/// Not `umqtt::packet::decode`: that needs whole packets buffered, and decoding what a client
/// sends would link the CONNECT/SUBSCRIBE parsers into the binary whose size is measured.
#[derive(Default)]
struct Framer {
    /// 0: expecting a first byte; 1..=4: in the remaining length; 5: in the body.
    state: u8,
    shift: u32,
    remaining: u32,
    packets: u8,
    /// The first byte of each packet written, in order (the last 16).
    kinds: [u8; 16],
}

impl Framer {
    fn byte(&mut self, b: u8) {
        match self.state {
            0 => {
                if let Some(k) = self.kinds.get_mut(usize::from(self.packets) % 16) {
                    *k = b;
                }
                (self.state, self.shift, self.remaining) = (1, 0, 0);
            }
            1..=4 => {
                self.remaining |= u32::from(b & 0x7F) << self.shift;
                self.shift += 7;
                self.state = if b & 0x80 != 0 { self.state + 1 } else { 5 };
                if self.state == 5 && self.remaining == 0 {
                    self.end();
                }
            }
            _ => {
                self.remaining = self.remaining.saturating_sub(1);
                if self.remaining == 0 {
                    self.end();
                }
            }
        }
    }

    fn end(&mut self) {
        self.state = 0;
        self.packets = self.packets.wrapping_add(1);
    }
}

/// The transport's error: the script cut the connection, or the client waited for nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptError {
    /// No data now (the read "timed out").
    Idle,
    /// The connection was cut.
    Cut,
}

impl embedded_io::Error for ScriptError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            ScriptError::Idle => embedded_io::ErrorKind::TimedOut,
            ScriptError::Cut => embedded_io::ErrorKind::ConnectionReset,
        }
    }
}

impl core::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ScriptError::Idle => "idle",
            ScriptError::Cut => "cut",
        })
    }
}

impl core::error::Error for ScriptError {}

/// One connection to the scripted broker.
pub struct ScriptIo {
    steps: &'static [Step],
    next: usize,
    /// The bytes being sent, and how far.
    sending: &'static [u8],
    cut: bool,
    framer: Framer,
}

impl ScriptIo {
    /// A connection following `steps`.
    pub fn new(steps: &'static [Step]) -> Self {
        ScriptIo {
            steps,
            next: 0,
            sending: &[],
            cut: false,
            framer: Framer::default(),
        }
    }

    /// Packets the client wrote on this connection.
    pub fn packets(&self) -> u8 {
        self.framer.packets
    }

    /// The first byte of the client's `i`-th packet on this connection.
    pub fn kind(&self, i: u8) -> u8 {
        self.framer.kinds.get(usize::from(i)).copied().unwrap_or(0)
    }

    /// Starts the next step if the client has written enough.
    fn due(&mut self) {
        if !self.sending.is_empty() || self.cut {
            return;
        }
        match self.steps.get(self.next) {
            Some(Step::Send(after, bytes)) if self.framer.packets >= *after => {
                self.sending = bytes;
                self.next += 1;
            }
            Some(Step::Cut(after)) if self.framer.packets >= *after => self.cut = true,
            _ => {}
        }
    }
}

impl embedded_io::ErrorType for ScriptIo {
    type Error = ScriptError;
}

impl embedded_io::Read for ScriptIo {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ScriptError> {
        self.due();
        if self.cut {
            return Err(ScriptError::Cut);
        }
        let n = buf.len().min(self.sending.len());
        if n == 0 {
            NOW_MS.fetch_add(IDLE_MS, Ordering::Relaxed);
            return Err(ScriptError::Idle);
        }
        let (now, later) = self.sending.split_at(n);
        if let Some(dst) = buf.get_mut(..n) {
            dst.copy_from_slice(now);
        }
        self.sending = later;
        Ok(n)
    }
}

impl embedded_io::Write for ScriptIo {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ScriptError> {
        if self.cut {
            return Err(ScriptError::Cut);
        }
        for &b in buf {
            self.framer.byte(b);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), ScriptError> {
        Ok(())
    }
}
