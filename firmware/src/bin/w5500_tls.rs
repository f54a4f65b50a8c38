//! The seed program over TLS 1.3 (feature `embedded-tls`): the same board as `w5500` (STM32F411 with
//! a W5500 on SPI1), the broker verified against `CA_DER` by embedded-tls in no_std, the
//! blocking driver over `umqtt::transport::embedded_tls::TlsLink`. It publishes a status every
//! second and switches the LED on "0"/"1".
//!
//! This is the footprint build of TLS on the board. Two things a product must supply:
//! `CA_DER`, the DER certificate of the CA that signed the broker's (empty here), and the
//! RNG seed: the STM32F411 has no hardware RNG, so `seed()` below is a placeholder — seed
//! from a TRNG (STM32F405/F407 RNG, RP2040 ROSC, ESP32 RNG) or a per-device secret.
//!
//! The no-panic link proof does not hold for it: embedded-tls keeps panic paths (its
//! `unwrap!`s and slice indexing; see FOOTPRINT.md), so it builds with `find-panics`
//! (a looping panic handler) and CI lists who calls `core::panicking`.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use umqtt::driver::time::Clock;
use umqtt::transport::embedded_tls::{MAX_RECORD, NoClock, TlsLink, TlsLinkOptions};
use umqtt::{Blocking, Client, ConnectOptions, Event, QoS};
use umqtt_firmware::app::Buffers;
use umqtt_firmware::board::{Board, CycleClock, CycleDelay, bring_up};
use w5500_io::{NetConfig, TcpSocket, Timeouts, W5500};

const NET: NetConfig = NetConfig {
    mac: [0x02, 0x00, 0x00, 0x00, 0x55, 0x02],
    ip: [192, 168, 1, 51],
    gateway: [192, 168, 1, 1],
    subnet: [255, 255, 255, 0],
};
const BROKER: ([u8; 4], u16) = ([192, 168, 1, 10], 8883);
const BROKER_NAME: &str = "broker.local";
/// The CA certificate (DER) that signed the broker's: yours goes here.
const CA_DER: &[u8] = &[];

/// TLS record buffers: a whole incoming record, and our outgoing records.
struct Records {
    read: [u8; MAX_RECORD],
    write: [u8; 2048],
}

/// Placeholder entropy (see the module documentation): NOT a secure seed.
fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(4).enumerate() {
        let mixed = cortex_m::peripheral::DWT::cycle_count().rotate_left(i as u32 * 5);
        chunk.copy_from_slice(&mixed.to_le_bytes());
    }
    seed
}

#[entry]
fn main() -> ! {
    let Some(Board { spi, mut led, .. }) = bring_up() else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    let (Some(buffers), Some(records)) = (
        cortex_m::singleton!(: Buffers = Buffers::new()),
        cortex_m::singleton!(: Records = Records { read: [0; MAX_RECORD], write: [0; 2048] }),
    ) else {
        loop {
            cortex_m::asm::wfi();
        }
    };
    let _ = run(spi, buffers, records, |payload| match payload {
        b"1" => led.set_low(),
        b"0" => led.set_high(),
        _ => {}
    });
    // A product would reconnect here (the record buffers are borrowed by the link: a loop
    // around `run` with buffers taken per attempt).
    loop {
        cortex_m::asm::wfi();
    }
}

/// Connects over TLS and runs until the link fails.
fn run<SPI: embedded_hal::spi::SpiDevice>(
    spi: SPI,
    buffers: &'static mut Buffers,
    records: &'static mut Records,
    mut on_command: impl FnMut(&[u8]),
) -> Option<()> {
    let mut delay = CycleDelay;
    let mut chip = W5500::new(spi);
    chip.init(&NET, &mut delay).ok()?;
    chip.wait_link(&mut delay, 5_000).ok()?;
    let mut socket = TcpSocket::new(chip, 0, CycleDelay, Timeouts::default()).ok()?;
    socket.connect(BROKER.0, BROKER.1).ok()?;
    let options = TlsLinkOptions::new(BROKER_NAME, CA_DER);
    let rng = ChaCha20Rng::from_seed(seed());
    let link =
        TlsLink::connect::<NoClock>(socket, &options, rng, &mut records.read, &mut records.write)
            .ok()?;
    let Buffers { rx, tx, store } = buffers;
    let mqtt_options = ConnectOptions::new("umqtt-stm32-tls")
        .ok()?
        .keep_alive_secs(30);
    let client = Client::new(mqtt_options, &mut rx[..], &mut tx[..], &mut store[..]).ok()?;
    let handler = |event: Event<'_>| {
        if let Event::Message(m) = event {
            on_command(m.payload);
        }
    };
    let mut clock = CycleClock::new();
    let mut mqtt = Blocking::new(client, link, CycleClock::new(), handler);
    mqtt.connect().ok()?;
    mqtt.subscribe("umqtt/stm32/led", QoS::AtLeastOnce).ok()?;
    let mut next = 0;
    loop {
        if clock.now_ms() >= next {
            next = clock.now_ms() + 1_000;
            mqtt.publish(
                "umqtt/stm32/status",
                b"{\"up\":true}",
                QoS::AtLeastOnce,
                false,
            )
            .ok()?;
        }
        // Our status's PUBACK wakes this every second at the latest.
        mqtt.wait_msg().ok()?;
    }
}
