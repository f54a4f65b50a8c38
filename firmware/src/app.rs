//! The seed program, board-independent: a board with a WIZnet W5500 on SPI connects to a
//! broker, publishes a JSON status every second, and polls for messages every 100 ms
//! (`check_msg`). no_std, no heap; generic over the SPI device, delay and clock, so the same
//! code runs on a Cortex-M board and — through the W5500 emulator — on a Linux host
//! (`cargo run --example w5500`).

use core::fmt::Write as _;

use embedded_hal::delay::DelayNs;
use embedded_hal::spi::SpiDevice;
use umqtt::DriverError;
use umqtt::adapters::w5500::{NetConfig, TcpSocket, Timeouts, W5500, W5500Error};
use umqtt::client::{Client, ConnectOptions, Error, Event};
use umqtt::nonblocking::NonBlocking;
use umqtt::packet::{Publish, QoS};
use umqtt::time::Clock;

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
    /// Stop (with a clean DISCONNECT) after this many messages; `None` runs forever.
    pub stop_after: Option<u32>,
}

/// Why the program stopped.
#[derive(Debug)]
pub enum AppError<E> {
    /// The chip or its socket.
    W5500(W5500Error<E>),
    /// The MQTT connection.
    Mqtt(DriverError<W5500Error<E>>),
}

impl<E> From<W5500Error<E>> for AppError<E> {
    fn from(e: W5500Error<E>) -> Self {
        AppError::W5500(e)
    }
}

impl<E> From<DriverError<W5500Error<E>>> for AppError<E> {
    fn from(e: DriverError<W5500Error<E>>) -> Self {
        AppError::Mqtt(e)
    }
}

impl<E> From<Error> for AppError<E> {
    fn from(e: Error) -> Self {
        AppError::Mqtt(DriverError::Client(e))
    }
}

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
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Retries a non-blocking call while it would block, polling the connection meanwhile.
macro_rules! block {
    ($mqtt:expr, $call:expr) => {
        loop {
            match $call {
                Ok(v) => break v,
                Err(nb::Error::WouldBlock) => match $mqtt.poll() {
                    Ok(_) | Err(nb::Error::WouldBlock) => {}
                    Err(nb::Error::Other(e)) => return Err(e.into()),
                },
                Err(nb::Error::Other(e)) => return Err(e.into()),
            }
        }
    };
}

/// Runs the program: bring-up, connect, then publish every second and poll every 100 ms.
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
    chip.init(&settings.net, &mut delay)?;
    chip.wait_link(&mut delay, 5_000)?;
    let mut socket = TcpSocket::new(chip, 0, delay.clone(), Timeouts::default())?;
    let (ip, port) = settings.broker;
    socket.connect(ip, port)?;

    let options = ConnectOptions::new(settings.client_id)
        .map_err(Error::from)?
        .keep_alive_secs(30);
    let client = Client::new(
        options,
        &mut buffers.rx,
        &mut buffers.tx,
        &mut buffers.store,
    )
    .map_err(Error::from)?;
    let mut mqtt = NonBlocking::new(client, socket, clock);
    mqtt.connect()?;
    loop {
        match mqtt.poll() {
            Ok(Event::Connected { .. }) => break,
            Ok(_) | Err(nb::Error::WouldBlock) => delay.delay_ms(10),
            Err(nb::Error::Other(e)) => return Err(e.into()),
        }
    }
    block!(
        mqtt,
        mqtt.subscribe(settings.command_filter, QoS::AtLeastOnce)
    );

    let (mut count, mut received) = (0u32, 0u32);
    let mut next_publish = 0u64;
    loop {
        let now = app_clock.now_ms();
        if now >= next_publish {
            let mut json = heapless::String::<64>::new();
            // 64 bytes hold the longest status ({"count":4294967295,"uptime_ms":…}).
            let _ = write!(json, "{{\"count\":{count},\"uptime_ms\":{now}}}");
            block!(
                mqtt,
                mqtt.publish(
                    settings.status_topic,
                    json.as_bytes(),
                    QoS::AtLeastOnce,
                    false
                )
            );
            count = count.wrapping_add(1);
            next_publish = now + 1_000;
        }
        mqtt.check_msg(|m| {
            received += 1;
            on_message(m);
        })?;
        if settings.stop_after.is_some_and(|n| received >= n) {
            block!(mqtt, mqtt.disconnect());
            let (_, mut socket, _) = mqtt.into_parts();
            socket.disconnect()?;
            return Ok(());
        }
        delay.delay_ms(100); // the rest of the main loop
    }
}
