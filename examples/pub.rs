//! umqtt.simple's pub.py in Rust: publish a JSON message every second.
//!
//! `cargo run --example pub [-- --count N] [--host H --port P]` (in-process broker by
//! default; runs forever unless `--count` is given).

#[path = "support/args.rs"]
mod args;

use umqtt::{Blocking, Client, ConnectOptions, QoS, StdClock, TcpTransport};
use umqtt_testbroker as broker;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::from_env();
    let addr = args.broker().unwrap_or_else(|| broker::start().to_string());
    let count: Option<u64> = args.value(&["--count"]).map(|c| c.parse()).transpose()?;
    let client = Client::new(
        ConnectOptions::new("umqtt-pub")?,
        [0; 512],
        [0; 512],
        [0; 512],
    )?;
    // A publisher: the events that arrive while a call waits need no handling.
    let mut mqtt = Blocking::new(
        client,
        TcpTransport::connect(&addr)?,
        StdClock::new(),
        |_| {},
    );
    mqtt.connect()?;
    println!("connected to {addr}");
    let mut n = 0u64;
    while count.is_none_or(|c| n < c) {
        let msg = format!("{{\"count\": {n}, \"uptime_ms\": {}}}", n * 1000);
        mqtt.publish("umqtt/pub/json", msg.as_bytes(), QoS::AtMostOnce, false)?;
        println!("published {msg}");
        n += 1;
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    mqtt.disconnect()?;
    Ok(())
}
