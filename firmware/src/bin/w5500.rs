//! The seed program on an STM32F411 ("Black Pill", 25 MHz crystal) with a W5500 module on
//! SPI1 (PA5 SCK, PA6 MISO, PA7 MOSI, PA4 CS): publish a JSON status every second, poll for
//! messages every 100 ms, reconnect after any failure. The program itself is
//! `umqtt_firmware::app`, the same code `cargo run --example w5500` runs on the host.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use embedded_hal::delay::DelayNs;
use umqtt_firmware::app::{self, Buffers, Settings};
use umqtt_firmware::board::{Board, CycleClock, CycleDelay, bring_up};
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
    let Some(Board {
        mut spi, mut led, ..
    }) = bring_up()
    else {
        loop {
            cortex_m::asm::wfi();
        }
    };
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
