//! The seed program on an STM32F411 ("Black Pill", 25 MHz crystal) with a W5500 module on
//! SPI1 (PA5 SCK, PA6 MISO, PA7 MOSI, PA4 CS): publish a JSON status every second, poll for
//! messages every 100 ms, reconnect after any failure. The program itself is
//! `umqtt_firmware::app`, the same code `cargo run --example w5500` runs on the host.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use embedded_hal::delay::DelayNs;
use embedded_hal_bus::spi::ExclusiveDevice;
use stm32f4xx_hal::pac;
use stm32f4xx_hal::prelude::*;
use stm32f4xx_hal::rcc::Config;
use stm32f4xx_hal::spi::{Mode, Phase, Polarity, Spi};
use umqtt_firmware::app::{self, Buffers, Settings};
use umqtt_firmware::board::{CORE_HZ, CycleClock, CycleDelay};
use w5500_io::NetConfig;

const SETTINGS: Settings<'static> = Settings {
    net: NetConfig {
        mac: [0x02, 0x00, 0x00, 0x00, 0x55, 0x01],
        ip: [192, 168, 1, 50],
        gateway: [192, 168, 1, 1],
        subnet: [255, 255, 255, 0],
    },
    broker: ([192, 168, 1, 10], 1883),
    client_id: "umqtt-stm32",
    status_topic: "umqtt/stm32/status",
    command_filter: "umqtt/stm32/led",
    max_inflight: umqtt::client::DEFAULT_MAX_INFLIGHT,
    stop_after: None,
};

#[entry]
fn main() -> ! {
    let (Some(dp), Some(mut cp)) = (pac::Peripherals::take(), cortex_m::Peripherals::take()) else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    cp.DCB.enable_trace();
    cp.DWT.enable_cycle_counter();
    let mut rcc = dp.RCC.freeze(Config::hse(25.MHz()).sysclk(CORE_HZ.Hz()));
    let gpioa = dp.GPIOA.split(&mut rcc);
    let gpioc = dp.GPIOC.split(&mut rcc);
    let mut led = gpioc.pc13.into_push_pull_output();
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
    let Ok(mut spi) = ExclusiveDevice::new(spi, cs, CycleDelay);
    // The session's memory in .bss (taken once, so the Option is always Some).
    let Some(buffers) = cortex_m::singleton!(: Buffers = Buffers::new()) else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    let mut delay = CycleDelay;
    loop {
        // Returns only on failure (SETTINGS.stop_after is None): wait, then start over.
        let result = app::run(
            &mut spi,
            CycleDelay,
            CycleClock::new(),
            &SETTINGS,
            buffers,
            |m| {
                // "0" / "1" on the command topic switches the board's LED (active low).
                match m.payload {
                    b"1" => led.set_low(),
                    b"0" => led.set_high(),
                    _ => {}
                }
            },
        );
        let _ = result;
        delay.delay_ms(1_000);
    }
}
