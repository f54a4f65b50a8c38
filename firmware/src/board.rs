//! Time for the firmware without interrupts: a clock and a delay from the core's cycle
//! counter (DWT.CYCCNT), so every binary shares them and none needs an interrupt handler.

use cortex_m::peripheral::DWT;
use embedded_hal::delay::DelayNs;
use umqtt::time::Clock;

/// The core clock the binaries configure, in Hz.
pub const CORE_HZ: u32 = 96_000_000;

/// Milliseconds from the 32-bit cycle counter, extended to 64 bits. Call `now_ms` at least
/// once per counter period (44 s at 96 MHz): the main loops poll every 100 ms.
#[derive(Debug, Clone, Copy)]
pub struct CycleClock {
    last: u32,
    cycles: u64,
}

impl CycleClock {
    /// Starts counting; the cycle counter must be enabled (`DWT::enable_cycle_counter`).
    pub fn new() -> Self {
        CycleClock {
            last: DWT::cycle_count(),
            cycles: 0,
        }
    }
}

impl Default for CycleClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for CycleClock {
    fn now_ms(&mut self) -> u64 {
        let now = DWT::cycle_count();
        self.cycles += u64::from(now.wrapping_sub(self.last));
        self.last = now;
        self.cycles / u64::from(CORE_HZ / 1_000)
    }
}

/// A busy-wait delay counted in core cycles.
#[derive(Debug, Clone, Copy, Default)]
pub struct CycleDelay;

impl DelayNs for CycleDelay {
    fn delay_ns(&mut self, ns: u32) {
        let cycles = u64::from(ns) * u64::from(CORE_HZ / 1_000_000) / 1_000;
        cortex_m::asm::delay(u32::try_from(cycles).unwrap_or(u32::MAX).max(1));
    }
}
