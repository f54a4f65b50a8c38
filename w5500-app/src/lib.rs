//! The seed program, board-independent: a board with a WIZnet W5500 on SPI connects to a
//! broker, publishes a JSON status every second, and polls for messages every 100 ms
//! (`check_msg`). no_std, no heap; generic over the SPI device, delay and clock, so the same
//! code runs on a Cortex-M board (`firmware/`) and — through the W5500 emulator — on a Linux
//! host (`cargo run --example w5500`, `tests/w5500.rs`). A crate of the workspace (not
//! published) so that the firmware, the example and the tests depend on it instead of
//! including its source.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod asynch;

pub use asynch::run_async;

use core::cell::Cell;
use core::fmt::Write as _;

use embedded_hal::delay::DelayNs;
use embedded_hal::spi::SpiDevice;
use umqtt::{Client, Clock, ConfigError, ConnectOptions, Error, Event, NonBlocking, Publish, QoS};
use w5500_io::{NetConfig, TcpSocket, Timeouts, W5500, W5500Error};

/// What the program needs to know.
pub struct Settings<'a> {
    /// The chip's network settings.
    pub net: NetConfig,
    /// The broker's IPv4 address and port.
    pub broker: ([u8; 4], u16),
    /// The MQTT client id.
    pub client_id: &'a str,
    /// Where the status goes.
    pub status_topic: &'a str,
    /// What to subscribe to.
    pub command_filter: &'a str,
    /// The most unacknowledged status messages at once (the in-flight window).
    pub max_inflight: u16,
    /// Stop (with a clean DISCONNECT) after this many messages; `None` runs forever.
    pub stop_after: Option<u32>,
}

/// Why the program stopped: the W5500 (as the transport, [`Error::Io`]) or MQTT.
pub type AppError<E> = Error<W5500Error<E>>;

/// The session's memory, owned by the caller (a `static` on the board).
pub struct Buffers {
    /// Inbound packets.
    pub rx: [u8; 512],
    /// Outbound packets.
    pub tx: [u8; 256],
    /// Unacknowledged QoS 1 messages.
    pub store: [u8; 512],
}

impl Buffers {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        Buffers {
            rx: [0; 512],
            tx: [0; 256],
            store: [0; 512],
        }
    }

    /// The program's MQTT client over these buffers: keep-alive 30 s, the settings' client id
    /// and window.
    pub fn client(&mut self, settings: &Settings<'_>) -> Result<Client<&mut [u8]>, ConfigError> {
        let options = ConnectOptions::new(settings.client_id)?
            .keep_alive_secs(30)
            .max_inflight(settings.max_inflight);
        let Buffers { rx, tx, store } = self;
        Client::new(options, &mut rx[..], &mut tx[..], &mut store[..])
    }
}

/// The driver's handler: every message to `on_message`, counted in `received` (for
/// [`Settings::stop_after`]).
fn counting<'a>(
    received: &'a Cell<u32>,
    on_message: &'a mut impl FnMut(&Publish<'_>),
) -> impl FnMut(Event<'_>) + 'a {
    move |event| {
        if let Event::Message(m) = event {
            received.set(received.get().wrapping_add(1));
            on_message(&m);
        }
    }
}

/// Writes the status message `{"count":N,"uptime_ms":M}` into `json` (64 bytes hold the
/// longest), replacing what it held.
pub fn status(json: &mut heapless::String<64>, count: u32, uptime_ms: u64) {
    json.clear();
    let _ = write!(json, "{{\"count\":{count},\"uptime_ms\":{uptime_ms}}}");
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the program: bring-up, connect, then publish every second and poll every 100 ms.
/// Every message reaches `on_message`, also those that arrive while a publish waits for room.
pub fn run<SPI, D, C>(
    spi: SPI,
    mut delay: D,
    clock: C,
    settings: &Settings<'_>,
    buffers: &mut Buffers,
    mut on_message: impl FnMut(&Publish<'_>),
) -> Result<(), AppError<SPI::Error>>
where
    SPI: SpiDevice,
    D: DelayNs + Clone,
    C: Clock + Clone,
{
    let mut app_clock = clock.clone();
    let mut chip = W5500::new(spi);
    chip.init(&settings.net, &mut delay).map_err(Error::Io)?;
    chip.wait_link(&mut delay, 5_000).map_err(Error::Io)?;
    let mut socket =
        TcpSocket::new(chip, 0, delay.clone(), Timeouts::default()).map_err(Error::Io)?;
    let (ip, port) = settings.broker;
    socket.connect(ip, port).map_err(Error::Io)?;

    let client = buffers.client(settings)?;
    let received = Cell::new(0u32);
    let handler = counting(&received, &mut on_message);
    let mut mqtt = NonBlocking::new(client, socket, clock, handler);
    nb::block!(mqtt.connect())?;
    nb::block!(mqtt.subscribe(settings.command_filter, QoS::AtLeastOnce))?;

    let mut count = 0u32;
    let mut json = heapless::String::<64>::new();
    let mut next_publish = 0u64;
    loop {
        let now = app_clock.now_ms();
        if now >= next_publish {
            status(&mut json, count, now);
            let topic = settings.status_topic;
            // Lossless: while it would block, `publish` drives the connection and hands
            // what arrives to the handler.
            nb::block!(mqtt.publish(topic, json.as_bytes(), QoS::AtLeastOnce, false))?;
            count = count.wrapping_add(1);
            next_publish = now + 1_000;
        }
        mqtt.check_msg()?;
        if settings.stop_after.is_some_and(|n| received.get() >= n) {
            nb::block!(mqtt.disconnect())?;
            let (_, mut socket, _, _) = mqtt.into_parts();
            socket.disconnect().map_err(Error::Io)?;
            return Ok(());
        }
        delay.delay_ms(100); // the rest of the main loop
    }
}
