//! Exponential backoff between reconnect attempts. Sans-IO: it computes delays; a driver
//! waits them out (see [`crate::blocking::Blocking::reconnect`]).

/// Delays that double from `initial_ms` up to `max_ms`, reset after a successful connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial_ms: u32,
    max_ms: u32,
    next_ms: u32,
    attempt: u32,
}

impl Backoff {
    /// Starts at `initial_ms` (at least 1), doubling up to `max_ms`.
    pub const fn new(initial_ms: u32, max_ms: u32) -> Self {
        let initial_ms = if initial_ms == 0 { 1 } else { initial_ms };
        Backoff {
            initial_ms,
            max_ms,
            next_ms: initial_ms,
            attempt: 0,
        }
    }

    /// The delay before the next attempt, and counts the attempt.
    pub fn next_delay_ms(&mut self) -> u32 {
        let delay = self.next_ms.min(self.max_ms);
        self.next_ms = self.next_ms.saturating_mul(2).min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// Attempts since the last [`Backoff::reset`].
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Back to the initial delay (after a successful connect).
    pub fn reset(&mut self) {
        self.next_ms = self.initial_ms;
        self.attempt = 0;
    }
}

impl Default for Backoff {
    /// 100 ms doubling to 10 s.
    fn default() -> Self {
        Backoff::new(100, 10_000)
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(100, 1_000);
        let delays: [u32; 6] = core::array::from_fn(|_| b.next_delay_ms());
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(b.attempt(), 6);
        b.reset();
        assert_eq!((b.next_delay_ms(), b.attempt()), (100, 1));
    }
}
