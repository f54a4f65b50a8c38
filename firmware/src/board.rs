//! Time for the firmware without interrupts: a clock and a delay from the core's cycle
//! counter (DWT.CYCCNT), so every binary shares them and none needs an interrupt handler.

use cortex_m::peripheral::DWT;
use embedded_hal::delay::DelayNs;
use umqtt::driver::time::Clock;

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

/// The board every W5500 binary runs on: an STM32F411 "Black Pill" (25 MHz crystal) with a
/// W5500 module on SPI1 (PA5 SCK, PA6 MISO, PA7 MOSI, PA4 CS) and the LED on PC13.
pub struct Board {
    /// SPI1 to the W5500, chip select included.
    pub spi: W5500Spi,
    /// The LED (active low).
    pub led: Led,
    /// The flash controller (for `w5500_persist`).
    pub flash: stm32f4xx_hal::pac::FLASH,
}

/// SPI1 with PA4 as chip select.
pub type W5500Spi = embedded_hal_bus::spi::ExclusiveDevice<
    stm32f4xx_hal::spi::Spi<stm32f4xx_hal::pac::SPI1>,
    stm32f4xx_hal::gpio::PA4<stm32f4xx_hal::gpio::Output>,
    CycleDelay,
>;

/// The LED pin.
pub type Led = stm32f4xx_hal::gpio::PC13<stm32f4xx_hal::gpio::Output>;

/// Clocks to [`CORE_HZ`], the cycle counter on, SPI1 at 20 MHz in mode 0; `None` if the
/// peripherals were taken already.
pub fn bring_up() -> Option<Board> {
    use stm32f4xx_hal::prelude::*;
    use stm32f4xx_hal::rcc::Config;
    use stm32f4xx_hal::spi::{Mode, Phase, Polarity, Spi};
    let dp = stm32f4xx_hal::pac::Peripherals::take()?;
    let mut cp = cortex_m::Peripherals::take()?;
    cp.DCB.enable_trace();
    cp.DWT.enable_cycle_counter();
    let mut rcc = dp.RCC.freeze(Config::hse(25.MHz()).sysclk(CORE_HZ.Hz()));
    let gpioa = dp.GPIOA.split(&mut rcc);
    let gpioc = dp.GPIOC.split(&mut rcc);
    let mode = Mode {
        polarity: Polarity::IdleLow,
        phase: Phase::CaptureOnFirstTransition,
    };
    let spi = Spi::new(
        dp.SPI1,
        (Some(gpioa.pa5), Some(gpioa.pa6), Some(gpioa.pa7)),
        mode,
        20.MHz(),
        &mut rcc,
    );
    let cs = gpioa.pa4.into_push_pull_output();
    // With a delay, DelayNs operations are supported: `new_no_delay` would keep a panic path.
    let Ok(spi) = embedded_hal_bus::spi::ExclusiveDevice::new(spi, cs, CycleDelay);
    Some(Board {
        spi,
        led: gpioc.pc13.into_push_pull_output(),
        flash: dp.FLASH,
    })
}
