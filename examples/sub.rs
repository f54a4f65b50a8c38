//! umqtt.simple's sub.py in Rust: subscribe with a callback, in `wait_msg` style (blocking)
//! or `check_msg` style (poll every 100 ms, never blocking).
//!
//! `cargo run --example sub -- [--style wait|check] [--count N] [--host H --port P]`.
//! With the in-process broker (the default) a helper thread publishes a few messages.

#[path = "support/args.rs"]
mod args;
#[path = "support/broker.rs"]
mod broker;

use std::time::Duration;

use umqtt::adapters::std_tcp::TcpTransport;
use umqtt::blocking::Blocking;
use umqtt::client::{Client, ConnectOptions, Event};
use umqtt::nonblocking::NonBlocking;
use umqtt::packet::{Publish, QoS};
use umqtt::time::StdClock;

fn callback(m: &Publish<'_>) {
    println!("{}: {}", m.topic, String::from_utf8_lossy(m.payload));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::from_env();
    let local = args.broker().is_none();
    let addr = args.broker().unwrap_or_else(|| broker::start().to_string());
    let count: usize = args
        .value(&["--count"])
        .map(|c| c.parse())
        .transpose()?
        .unwrap_or(if local { 3 } else { usize::MAX });
    let style = args.value(&["--style"]).unwrap_or_else(|| "wait".into());
    let (mut rx, mut tx, mut store) = ([0u8; 1024], [0u8; 512], [0u8; 2048]);
    let client = Client::new(
        ConnectOptions::new("umqtt-sub")?,
        &mut rx,
        &mut tx,
        &mut store,
    )?;

    if local {
        let addr = addr.clone();
        std::thread::spawn(move || -> Result<(), String> {
            let (mut rx, mut tx, mut store) = ([0u8; 256], [0u8; 256], [0u8; 256]);
            let c = Client::new(
                ConnectOptions::new("umqtt-sub-feeder").map_err(|e| e.to_string())?,
                &mut rx,
                &mut tx,
                &mut store,
            )
            .map_err(|e| e.to_string())?;
            let mut feeder = Blocking::new(
                c,
                TcpTransport::connect(&addr).map_err(|e| e.to_string())?,
                StdClock::new(),
            );
            feeder.connect().map_err(|e| e.to_string())?;
            for i in 0.. {
                std::thread::sleep(Duration::from_millis(300));
                feeder
                    .publish(
                        "umqtt/sub/demo",
                        format!("hello {i}").as_bytes(),
                        QoS::AtMostOnce,
                        false,
                    )
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        });
    }

    match style.as_str() {
        "wait" => {
            let mut mqtt = Blocking::new(client, TcpTransport::connect(&addr)?, StdClock::new());
            mqtt.connect()?;
            mqtt.subscribe("umqtt/sub/#", QoS::AtLeastOnce)?;
            for _ in 0..count {
                mqtt.wait_msg(callback)?; // blocks until a message arrives
            }
            mqtt.disconnect()?;
        }
        "check" => {
            let mut mqtt = NonBlocking::new(client, TcpTransport::connect(&addr)?, StdClock::new());
            mqtt.connect()?; // queues CONNECT; polling completes it
            loop {
                match mqtt.poll() {
                    Ok(Event::Connected { .. }) => break,
                    Ok(_) => {}
                    Err(nb::Error::WouldBlock) => std::thread::sleep(Duration::from_millis(10)),
                    Err(nb::Error::Other(e)) => return Err(e.into()),
                }
            }
            nb::block!(mqtt.subscribe("umqtt/sub/#", QoS::AtLeastOnce))?;
            let mut got = 0;
            while got < count {
                mqtt.check_msg(|m| {
                    callback(m);
                    got += 1;
                })?; // never blocks
                std::thread::sleep(Duration::from_millis(100)); // the rest of the main loop
            }
            nb::block!(mqtt.disconnect())?;
        }
        other => return Err(format!("--style must be wait or check, not {other}").into()),
    }
    Ok(())
}
