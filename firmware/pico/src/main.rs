//! umqtt's seed program on a WIZnet W5500-EVB-Pico (RP2040 + W5500), with embassy and the
//! async driver: connect to the broker as "umqtt-pico", subscribe to "umqtt/pico/led" (payload
//! "1" switches the LED on, "0" off), publish a JSON status to "umqtt/pico/status" every
//! second at QoS 1, and after any failure wait a second and start over.
//!
//! The W5500 runs as a MAC/PHY in raw mode (embassy-net-wiznet) under embassy-net's TCP/IP
//! stack (smoltcp), unlike `firmware/`'s STM32 build, which uses the chip's own TCP sockets.
//! The status is the same JSON as `w5500-app` publishes: `{"count":N,"uptime_ms":M}`.
//! No heap, no logging, no `unsafe` here; a panic halts.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::convert::Infallible;
use core::fmt::Write as _;

use embassy_executor::Spawner;
use embassy_net::tcp::{ConnectError, TcpSocket};
use embassy_net::{Ipv4Address, Ipv4Cidr, StackResources, StaticConfigV4};
use embassy_net_wiznet::chip::W5500;
use embassy_net_wiznet::{Device, State};
use embassy_rp::clocks::RoscRng;
use embassy_rp::gpio::{Input, Level, Output, Pull};
use embassy_rp::peripherals::{DMA_CH0, DMA_CH1, SPI0};
use embassy_rp::spi::{self, Spi};
use embassy_rp::{bind_interrupts, dma};
use embassy_time::{Delay, Duration, Instant, Timer};
use embedded_hal_bus::spi::ExclusiveDevice;
use panic_halt as _;
use static_cell::StaticCell;
use umqtt::{Async, Client, Clock, ConnectOptions, Event, QoS};

/// Our address and the broker's (static: no DHCP compiled in).
const IP: Ipv4Address = Ipv4Address::new(192, 168, 1, 51);
const PREFIX_LEN: u8 = 24;
const GATEWAY: Ipv4Address = Ipv4Address::new(192, 168, 1, 1);
const BROKER: (Ipv4Address, u16) = (Ipv4Address::new(192, 168, 1, 10), 1883);
/// A locally administered MAC (the board has none of its own).
const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x55, 0x51];

const CLIENT_ID: &str = "umqtt-pico";
const STATUS_TOPIC: &str = "umqtt/pico/status";
const LED_TOPIC: &str = "umqtt/pico/led";

/// The W5500 on SPI0, its chip select a plain GPIO.
type W5500Spi = ExclusiveDevice<Spi<'static, SPI0, spi::Async>, Output<'static>, Delay>;
/// The W5500 driver's task half: moves frames between the chip and embassy-net.
type EthRunner =
    embassy_net_wiznet::Runner<'static, W5500, W5500Spi, Input<'static>, Output<'static>>;

bind_interrupts!(struct Irqs {
    DMA_IRQ_0 => dma::InterruptHandler<DMA_CH0>, dma::InterruptHandler<DMA_CH1>;
});

/// `umqtt::Clock` over embassy-time: milliseconds since boot.
struct EmbassyClock;

impl Clock for EmbassyClock {
    fn now_ms(&mut self) -> u64 {
        Instant::now().as_millis()
    }
}

/// umqtt's error over an embassy-net socket.
type MqttError = umqtt::Error<embassy_net::tcp::Error>;

/// Why a session ended. Nothing reads it (no logging on this board), but it keeps the
/// cause in one place for a debugger or a future log line.
#[allow(dead_code)]
enum Failure {
    /// The TCP connection to the broker could not be opened.
    Tcp(ConnectError),
    /// MQTT or the transport failed once connected.
    Mqtt(MqttError),
}

impl From<MqttError> for Failure {
    fn from(e: MqttError) -> Self {
        Failure::Mqtt(e)
    }
}

#[embassy_executor::task]
async fn ethernet_task(runner: EthRunner) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device<'static>>) -> ! {
    runner.run().await
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_rp::init(Default::default());
    let mut led = Output::new(p.PIN_25, Level::Low);

    // W5500: SPI0 (SCK GP18, MOSI GP19, MISO GP16) at 50 MHz, CS GP17, INTn GP21, RSTn GP20.
    let mut spi_config = spi::Config::default();
    spi_config.frequency = 50_000_000;
    let spi = Spi::new(
        p.SPI0, p.PIN_18, p.PIN_19, p.PIN_16, p.DMA_CH0, p.DMA_CH1, Irqs, spi_config,
    );
    let cs = Output::new(p.PIN_17, Level::High);
    // Setting a GPIO output cannot fail (its error type is Infallible).
    let Ok(spi) = ExclusiveDevice::new(spi, cs, Delay);
    let int = Input::new(p.PIN_21, Pull::Up);
    let reset = Output::new(p.PIN_20, Level::High);

    // Frame queues between the driver task and the stack: 2 each way (1,514 B a frame) are
    // plenty for one TCP connection with 1 KiB windows, and a burst waits in the W5500's own
    // 16 KiB of buffer until a slot frees.
    static ETH_STATE: StaticCell<State<2, 2>> = StaticCell::new();
    let eth_state = ETH_STATE.init(State::new());
    let Ok((device, eth_runner)) = embassy_net_wiznet::new(MAC, eth_state, spi, int, reset).await
    else {
        // The W5500 did not answer: the pins it needs are spent, so reset the MCU and try
        // the whole bring-up again.
        Timer::after_secs(1).await;
        cortex_m::peripheral::SCB::sys_reset();
    };

    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(IP, PREFIX_LEN),
        gateway: Some(GATEWAY),
        dns_servers: heapless::Vec::new(),
    });
    static RESOURCES: StaticCell<StackResources<2>> = StaticCell::new();
    let seed = RoscRng.next_u64(); // TCP initial sequence numbers and local ports
    let (stack, net_runner) =
        embassy_net::new(device, config, RESOURCES.init(StackResources::new()), seed);

    // Each task is spawned once, so its pool (of one) always has room.
    if let Ok(token) = ethernet_task(eth_runner) {
        spawner.spawn(token);
    }
    if let Ok(token) = net_task(net_runner) {
        spawner.spawn(token);
    }

    // The TCP socket's and the MQTT session's memory, in this task's static future (.bss),
    // reused by every attempt.
    let mut tcp_rx = [0u8; 1024];
    let mut tcp_tx = [0u8; 1024];
    let mut mqtt_rx = [0u8; 512];
    let mut mqtt_tx = [0u8; 256];
    let mut mqtt_store = [0u8; 512];
    loop {
        stack.wait_link_up().await;
        let mut socket = TcpSocket::new(stack, &mut tcp_rx, &mut tcp_tx);
        // Abort when the broker sends nothing for 15 s (connecting included); TCP keep-alive
        // probes make it answer even when MQTT is quiet.
        socket.set_keep_alive(Some(Duration::from_secs(5)));
        socket.set_timeout(Some(Duration::from_secs(15)));
        let buffers = (&mut mqtt_rx[..], &mut mqtt_tx[..], &mut mqtt_store[..]);
        // Returns only on failure.
        let _failure = session(&mut socket, buffers, &mut led).await;
        // Reset the connection (the RST goes out while we wait), then start over.
        socket.abort();
        Timer::after_secs(1).await;
    }
}

/// One connection: TCP, CONNECT, SUBSCRIBE, then a status every second while commands are
/// handled as they arrive. Returns only when something fails.
async fn session(
    socket: &mut TcpSocket<'_>,
    (rx, tx, store): (&mut [u8], &mut [u8], &mut [u8]),
    led: &mut Output<'static>,
) -> Result<Infallible, Failure> {
    socket.connect(BROKER).await.map_err(Failure::Tcp)?;

    let options = ConnectOptions::new(CLIENT_ID)
        .map_err(MqttError::from)?
        .keep_alive_secs(30);
    let client = Client::new(options, rx, tx, store).map_err(MqttError::from)?;
    // Every message reaches the handler, also those that arrive while a publish waits.
    let handler = |event: Event<'_>| {
        if let Event::Message(m) = event {
            match m.payload {
                b"1" => led.set_high(),
                b"0" => led.set_low(),
                _ => {}
            }
        }
    };
    // embassy-net 0.9's TcpSocket implements embedded-io-async 0.7, umqtt's version: no
    // bridge needed, `&mut TcpSocket` is the transport.
    let mut mqtt = Async::new(client, socket, EmbassyClock, Delay, handler);
    mqtt.connect().await?;
    mqtt.subscribe(LED_TOPIC, QoS::AtLeastOnce).await?;

    let mut count = 0u32;
    loop {
        let now = Instant::now();
        let mut json = heapless::String::<64>::new();
        // 64 bytes hold the longest status ({"count":4294967295,"uptime_ms":…}).
        let uptime_ms = now.as_millis();
        let _ = write!(json, "{{\"count\":{count},\"uptime_ms\":{uptime_ms}}}");
        // At a full in-flight window this drives the connection (handler included) until
        // a PUBACK makes room.
        mqtt.publish(STATUS_TOPIC, json.as_bytes(), QoS::AtLeastOnce, false)
            .await?;
        count = count.wrapping_add(1);
        // Until the next status: hand messages to the handler, answer keep-alive.
        let next_publish = now + Duration::from_secs(1);
        let left = next_publish.saturating_duration_since(Instant::now());
        mqtt.run_for(left.as_millis()).await?;
    }
}
