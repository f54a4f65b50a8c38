//! The seed program with its session kept across resets (feature `flash-session`): the same board
//! as `w5500` (STM32F411 with a W5500 on SPI1), QoS 1 status messages and LED commands, and
//! the session — unacknowledged messages, answered QoS 2 ids — plus the LED state saved to the
//! MCU's own flash before anything that depends on them goes out, restored at boot.
//!
//! The snapshots live in the last two 128 KiB sectors (6 and 7, `memory.x` keeps the program
//! out of them), through stm32f4xx-hal's `NorFlash` and `umqtt::client::persist::FlashSlots`. On this
//! MCU a sector erase takes about a second: a product saving this often puts the slots on a
//! small-sector flash (an SPI NOR with 4 KiB sectors) instead; the code is the same.
//!
//! stm32f4xx-hal's flash driver keeps three panic paths (an `assert!` in `unlock`, slice
//! indexing in `read`), so this binary builds with `find-panics`; `panic_sites.py
//! w5500_persist` lists them (none in umqtt).
#![no_std]
#![no_main]

use core::cell::Cell;

use cortex_m_rt::entry;
use stm32f4xx_hal::flash::{FlashExt, LockedFlash};
use umqtt::client::persist::FlashSlots;
use umqtt::driver::time::Clock;
use umqtt::{Blocking, Client, ConnectOptions, Event, QoS};
use umqtt_firmware::app::Buffers;
use umqtt_firmware::board::{Board, CycleClock, CycleDelay, bring_up};
use w5500_io::{NetConfig, TcpSocket, Timeouts, W5500};

const NET: NetConfig = NetConfig {
    mac: [0x02, 0x00, 0x00, 0x00, 0x55, 0x03],
    ip: [192, 168, 1, 52],
    gateway: [192, 168, 1, 1],
    subnet: [255, 255, 255, 0],
};
const BROKER: ([u8; 4], u16) = ([192, 168, 1, 10], 1883);
/// Sectors 6 and 7: 0x0804_0000 and 0x0806_0000.
const SLOTS_AT: u32 = 256 * 1024;
const SLOT_SIZE: u32 = 128 * 1024;

#[entry]
fn main() -> ! {
    let Some(Board { spi, led, flash }) = bring_up() else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    let mut flash = LockedFlash::new(flash);
    let Ok(slots) = FlashSlots::new(flash.unlocked(), SLOTS_AT, SLOT_SIZE) else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    let Some(buffers) = cortex_m::singleton!(: Buffers = Buffers::new()) else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    let Some(snapshot) = cortex_m::singleton!(: [u8; 2048] = [0; 2048]) else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    let _ = run(spi, buffers, snapshot, slots, led);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Restores the session and the LED, then runs until the link fails.
fn run<SPI: embedded_hal::spi::SpiDevice, F: embedded_storage::nor_flash::NorFlash>(
    spi: SPI,
    buffers: &mut Buffers,
    snapshot: &mut [u8; 2048],
    mut slots: FlashSlots<F>,
    mut led: impl embedded_hal::digital::OutputPin,
) -> Option<()> {
    let options = ConnectOptions::new("umqtt-stm32-persist")
        .ok()?
        .keep_alive_secs(30)
        .clean_session(false)
        .persist_session(true);
    let Buffers { rx, tx, store } = buffers;
    let mut client = Client::new(options, &mut rx[..], &mut tx[..], &mut store[..]).ok()?;
    // The application's state saved with the session: the LED (1 = on).
    let on = Cell::new(0u8);
    if let Ok(Some(loaded)) = slots.load(&mut snapshot[..])
        && let Ok(&[state]) = client.restore_session(loaded.snapshot)
    {
        on.set(state);
    }
    let mut set_led = move |state: u8| {
        let _ = if state == 1 {
            led.set_low()
        } else {
            led.set_high()
        };
    };
    set_led(on.get());
    let mut buf = [0u8; 2048];
    let handler = |event: Event<'_>| match event {
        Event::Message(m) => {
            if let [b'0' | b'1'] = m.payload {
                on.set(u8::from(m.payload == b"1"));
                set_led(on.get());
            }
        }
        Event::SaveSession(session) => {
            // Not saved: the client sends nothing that depended on it and says so
            // (`SessionNotSaved`), and asks again on the next connection.
            let saved = match session.write_snapshot(&[on.get()], &mut buf) {
                Ok(n) => slots.save(buf.get(..n).unwrap_or_default()).is_ok(),
                Err(_) => false,
            };
            if !saved {
                session.failed();
            }
        }
        _ => {}
    };
    let mut delay = CycleDelay;
    let mut chip = W5500::new(spi);
    chip.init(&NET, &mut delay).ok()?;
    chip.wait_link(&mut delay, 5_000).ok()?;
    let mut socket = TcpSocket::new(chip, 0, CycleDelay, Timeouts::default()).ok()?;
    socket.connect(BROKER.0, BROKER.1).ok()?;
    let mut mqtt = Blocking::new(client, socket, CycleClock::new(), handler);
    let resumed = mqtt.connect().ok()?;
    if !resumed {
        mqtt.subscribe("umqtt/stm32/led", QoS::AtLeastOnce).ok()?;
    }
    let mut clock = CycleClock::new();
    let mut next = 0;
    loop {
        if clock.now_ms() >= next {
            next = clock.now_ms() + 1_000;
            let status: &[u8] = if on.get() == 1 { b"on" } else { b"off" };
            mqtt.publish("umqtt/stm32/status", status, QoS::AtLeastOnce, false)
                .ok()?;
        }
        mqtt.wait_msg().ok()?;
    }
}
