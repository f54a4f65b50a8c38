//! The seed program on the async stack: the W5500 over async SPI ([`w5500_io::AsyncTcpSocket`],
//! sleeping on INTn when given the pin) and umqtt's async driver. Same behaviour as
//! [`crate::run`]: a JSON status every second, every message to `on_message`.

use core::cell::Cell;

use embedded_hal_async::delay::DelayNs;
use embedded_hal_async::digital::Wait;
use embedded_hal_async::spi::SpiDevice;
use umqtt::{Async, Clock, Error, Publish, QoS};
use w5500_io::{AsyncTcpSocket, AsyncW5500, Timeouts};

use crate::{AppError, Buffers, Settings, counting, status};

/// Runs the program on the async stack. With `int_pin` a waiting read sleeps on the chip's
/// INTn pin; with `None` (`None::<w5500_io::NoPin>`) it polls.
pub async fn run_async<SPI, D, C, P>(
    spi: SPI,
    mut delay: D,
    clock: C,
    settings: &Settings<'_>,
    buffers: &mut Buffers,
    int_pin: Option<P>,
    on_message: impl FnMut(&Publish<'_>),
) -> Result<(), AppError<SPI::Error>>
where
    SPI: SpiDevice,
    D: DelayNs + Clone,
    C: Clock + Clone,
    P: Wait,
{
    let mut chip = AsyncW5500::new(spi);
    chip.init(&settings.net, &mut delay)
        .await
        .map_err(Error::Io)?;
    chip.wait_link(&mut delay, 5_000).await.map_err(Error::Io)?;
    let socket =
        AsyncTcpSocket::new(chip, 0, delay.clone(), Timeouts::default()).map_err(Error::Io)?;
    match int_pin {
        Some(pin) => {
            let socket = socket.with_interrupt(pin);
            session(socket, delay, clock, settings, buffers, on_message).await
        }
        None => session(socket, delay, clock, settings, buffers, on_message).await,
    }
}

/// Connect, subscribe, then a status every second while messages go to `on_message`.
async fn session<SPI, D, C, P>(
    mut socket: AsyncTcpSocket<SPI, D, P>,
    delay: D,
    clock: C,
    settings: &Settings<'_>,
    buffers: &mut Buffers,
    mut on_message: impl FnMut(&Publish<'_>),
) -> Result<(), AppError<SPI::Error>>
where
    SPI: SpiDevice,
    D: DelayNs + Clone,
    C: Clock + Clone,
    P: Wait,
{
    let (ip, port) = settings.broker;
    socket.connect(ip, port).await.map_err(Error::Io)?;
    let client = buffers.client(settings)?;
    let received = Cell::new(0u32);
    let handler = counting(&received, &mut on_message);
    let mut app_clock = clock.clone();
    let mut mqtt = Async::new(client, &mut socket, clock, delay.clone(), handler);
    mqtt.connect().await?;
    mqtt.subscribe(settings.command_filter, QoS::AtLeastOnce)
        .await?;

    let mut count = 0u32;
    let mut json = heapless::String::<64>::new();
    loop {
        let now = app_clock.now_ms();
        status(&mut json, count, now);
        // At a full window this drives the connection (handler included) until there is room.
        mqtt.publish(
            settings.status_topic,
            json.as_bytes(),
            QoS::AtLeastOnce,
            false,
        )
        .await?;
        count = count.wrapping_add(1);
        // Messages until the next second, the connection kept alive meanwhile; `run_for`
        // never cuts a write short (a `select` with a timer could, mid-SEND).
        let next = now + 1_000;
        mqtt.run_for(next.saturating_sub(app_clock.now_ms()))
            .await?;
        if settings.stop_after.is_some_and(|n| received.get() >= n) {
            mqtt.disconnect().await?;
            drop(mqtt);
            return socket.disconnect().await.map_err(Error::Io);
        }
    }
}
