//! Reconnecting: exponential backoff between attempts, and which errors are worth another
//! attempt. Sans-IO: it computes delays; a driver waits them out (see the drivers'
//! `reconnect`).

use crate::Error;
use crate::error::BrokerError;
use crate::packet::ConnectReturnCode;

/// Delays that double from `initial_ms` up to `max_ms`, for a limited or unlimited number of
/// attempts; reset after a successful connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backoff {
    initial_ms: u32,
    max_ms: u32,
    next_ms: u32,
    attempt: u32,
    max_attempts: Option<u32>,
}

impl Backoff {
    /// Starts at `initial_ms` (at least 1), doubling up to `max_ms`; unlimited attempts.
    pub const fn new(initial_ms: u32, max_ms: u32) -> Self {
        let initial_ms = if initial_ms == 0 { 1 } else { initial_ms };
        Backoff {
            initial_ms,
            max_ms,
            next_ms: initial_ms,
            attempt: 0,
            max_attempts: None,
        }
    }

    /// At most `n` attempts in all (at least 1) before a reconnect gives up with the last
    /// error.
    pub const fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(if n == 0 { 1 } else { n });
        self
    }

    /// The delay before the next attempt, counting the attempt; `None` when the attempts
    /// are used up.
    pub fn next_delay_ms(&mut self) -> Option<u32> {
        if self
            .max_attempts
            .is_some_and(|max| self.attempt.saturating_add(1) >= max)
        {
            return None;
        }
        let delay = self.next_ms.min(self.max_ms);
        self.next_ms = self.next_ms.saturating_mul(2).min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        Some(delay)
    }

    /// Attempts made since the last [`Backoff::reset`], not counting the first: the number of
    /// the attempt about to be made (0 for the first).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Back to the initial delay and the first attempt (after a successful connect).
    pub fn reset(&mut self) {
        self.next_ms = self.initial_ms;
        self.attempt = 0;
    }
}

impl Default for Backoff {
    /// 100 ms doubling to 10 s, unlimited attempts.
    fn default() -> Self {
        Backoff::new(100, 10_000)
    }
}

/// Would another connection attempt possibly end differently? Not for a caller's mistake, a
/// broker's refusal (bad credentials, identifier rejected, …) except "server unavailable", or
/// a packet larger than the rx buffer (a persistent session would send it again).
pub(crate) fn worth_retrying<E>(e: &Error<E>) -> bool {
    match e {
        Error::Caller(_) | Error::Broker(BrokerError::PacketTooLarge { .. }) => false,
        Error::Broker(BrokerError::Refused(code)) => *code == ConnectReturnCode::ServerUnavailable,
        Error::Broker(_) | Error::Link(_) | Error::Io(_) => true,
    }
}

/// [`worth_retrying`] for the std front ends: a TLS certificate refused — the broker's by us,
/// or ours by the broker — is a setting another attempt cannot change either.
#[cfg(feature = "std")]
pub(crate) fn worth_retrying_std(e: &crate::StdError) -> bool {
    #[cfg(feature = "rustls")]
    if let Error::Io(io) = e {
        if crate::transport::tls::certificate_refused(io) {
            return false;
        }
    }
    worth_retrying(e)
}

#[cfg(test)]
mod tests {
    use super::Backoff;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(100, 1_000);
        let delays: [Option<u32>; 6] = core::array::from_fn(|_| b.next_delay_ms());
        assert_eq!(
            delays.map(Option::unwrap),
            [100, 200, 400, 800, 1_000, 1_000]
        );
        assert_eq!(b.attempt(), 6);
        b.reset();
        assert_eq!((b.next_delay_ms(), b.attempt()), (Some(100), 1));
    }

    #[test]
    fn max_attempts_counts_the_first_attempt() {
        let mut b = Backoff::new(10, 10).max_attempts(3);
        assert_eq!(b.next_delay_ms(), Some(10)); // before attempt 1
        assert_eq!(b.next_delay_ms(), Some(10)); // before attempt 2
        assert_eq!(b.next_delay_ms(), None); // attempt 2 was the third and last
        assert_eq!(b.attempt(), 2);
    }
}
