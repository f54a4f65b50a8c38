//! The W5500 program on a Linux host: the seed program (publish a JSON status every second;
//! subscribe and poll every 100 ms) of the `umqtt-w5500-app` crate — the same code the Cortex-M
//! firmware runs — driving an emulated W5500 whose socket is bridged to real TCP.
//!
//! `cargo run --example w5500 -- [--count N] [--host H --port P] [--async]`. By default it
//! starts the in-process broker, subscribes to its own status topic and stops after 3
//! messages. `--async` runs the program's async form (`run_async`: async SPI, umqtt's async
//! driver on tokio, reads sleeping on the emulated chip's INTn pin).

#[path = "support/args.rs"]
mod args;

use std::net::{SocketAddr, ToSocketAddrs};
use umqtt_testbroker as broker;
use umqtt_w5500_app as app;

use umqtt::driver::time::{StdClock, StdDelay};
use umqtt::transport::tokio::TokioDelay;
use w5500_io::NetConfig;
use w5500_io::emulator::Emulator;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::from_env();
    let local = args.broker().is_none();
    let addr: SocketAddr = match args.broker() {
        Some(a) => a
            .to_socket_addrs()?
            .find(SocketAddr::is_ipv4)
            .ok_or("the W5500 speaks IPv4 only: give an IPv4 broker address")?,
        None => broker::start(),
    };
    let std::net::IpAddr::V4(ip) = addr.ip() else {
        return Err("IPv4 only".into());
    };
    let stop_after = match args.value(&["--count"]) {
        Some(n) => Some(n.parse()?),
        None if local => Some(3),
        None => None,
    };
    let settings = app::Settings {
        net: NetConfig {
            mac: [0x02, 0x00, 0x00, 0x00, 0x55, 0x00],
            ip: [127, 0, 0, 2],
            gateway: [127, 0, 0, 1],
            subnet: [255, 0, 0, 0],
        },
        broker: (ip.octets(), addr.port()),
        client_id: "umqtt-w5500",
        status_topic: "umqtt/w5500/status",
        command_filter: "umqtt/w5500/#",
        max_inflight: umqtt::client::DEFAULT_MAX_INFLIGHT,
        stop_after,
    };
    println!("W5500 (emulated) → broker {addr}");
    let emulator = Emulator::new();
    let mut buffers = app::Buffers::new();
    let print =
        |m: &umqtt::Publish<'_>| println!("{}: {}", m.topic, String::from_utf8_lossy(m.payload));
    if args.flag("--async") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        runtime.block_on(app::run_async(
            emulator.clone(),
            TokioDelay,
            StdClock::new(),
            &settings,
            &mut buffers,
            Some(emulator.int_pin()),
            print,
        ))?;
    } else {
        app::run(
            emulator.clone(),
            StdDelay,
            StdClock::new(),
            &settings,
            &mut buffers,
            print,
        )?;
    }
    let stats = emulator.stats(0);
    println!(
        "done: the emulated socket sent {} and received {} bytes in {} SPI transactions",
        stats.sent,
        stats.received,
        emulator.transactions()
    );
    Ok(())
}
