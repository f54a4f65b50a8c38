//! Time for the drivers: a monotonic millisecond clock the caller supplies.

/// A monotonic clock in milliseconds. The client core takes `now` from it; only differences
/// matter, so any epoch works (boot time, a timer peripheral, `Instant`).
pub trait Clock {
    /// Milliseconds since an arbitrary fixed point; never decreases.
    fn now_ms(&mut self) -> u64;
}

impl<F: FnMut() -> u64> Clock for F {
    fn now_ms(&mut self) -> u64 {
        self()
    }
}

/// A [`Clock`] over `std::time::Instant`.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy)]
pub struct StdClock(std::time::Instant);

#[cfg(feature = "std")]
impl StdClock {
    /// A clock starting at zero now.
    pub fn new() -> Self {
        StdClock(std::time::Instant::now())
    }
}

#[cfg(feature = "std")]
impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "std")]
impl Clock for StdClock {
    fn now_ms(&mut self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// An `embedded_hal::delay::DelayNs` that sleeps the thread.
#[cfg(feature = "std")]
#[derive(Debug, Default, Clone, Copy)]
pub struct StdDelay;

#[cfg(feature = "std")]
impl embedded_hal::delay::DelayNs for StdDelay {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(std::time::Duration::from_nanos(u64::from(ns)));
    }
}
