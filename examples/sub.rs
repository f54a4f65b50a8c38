//! umqtt.simple's sub.py in Rust: subscribe with a callback, in `wait_msg` style (blocking)
//! or `check_msg` style (poll every 100 ms, never blocking).
//!
//! `cargo run --example sub -- [--style wait|check] [--count N] [--host H --port P]`.
//! With the in-process broker (the default) a helper thread publishes a few messages.

#[path = "support/args.rs"]
mod args;

use std::cell::Cell;
use std::time::Duration;
use umqtt_testbroker as broker;

use umqtt::{Blocking, Client, ConnectOptions, Event, NonBlocking, QoS, StdClock, TcpTransport};

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
    let client = Client::new(
        ConnectOptions::new("umqtt-sub")?,
        [0; 1024],
        [0; 1024],
        [0; 1024],
    )?;
    // umqtt.simple's set_callback: every event goes to the callback.
    let got = Cell::new(0);
    let callback = |event: Event<'_>| {
        if let Event::Message(m) = event {
            println!("{}: {}", m.topic, String::from_utf8_lossy(m.payload));
            got.set(got.get() + 1);
        }
    };

    if local {
        let addr = addr.clone();
        std::thread::spawn(move || -> Result<(), String> {
            let options = ConnectOptions::new("umqtt-sub-feeder").map_err(|e| e.to_string())?;
            let c =
                Client::new(options, [0; 256], [0; 256], [0; 256]).map_err(|e| e.to_string())?;
            let io = TcpTransport::connect(&addr).map_err(|e| e.to_string())?;
            let mut feeder = Blocking::new(c, io, StdClock::new(), |_| {});
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
            let io = TcpTransport::connect(&addr)?;
            let mut mqtt = Blocking::new(client, io, StdClock::new(), callback);
            mqtt.connect()?;
            mqtt.subscribe("umqtt/sub/#", QoS::AtLeastOnce)?;
            while got.get() < count {
                mqtt.wait_msg()?; // blocks until an event reached the callback
            }
            mqtt.disconnect()?;
        }
        "check" => {
            let io = TcpTransport::connect(&addr)?;
            let mut mqtt = NonBlocking::new(client, io, StdClock::new(), callback);
            umqtt::nb::block!(mqtt.connect())?;
            umqtt::nb::block!(mqtt.subscribe("umqtt/sub/#", QoS::AtLeastOnce))?;
            while got.get() < count {
                mqtt.check_msg()?; // never blocks
                std::thread::sleep(Duration::from_millis(100)); // the rest of the main loop
            }
            umqtt::nb::block!(mqtt.disconnect())?;
        }
        other => return Err(format!("--style must be wait or check, not {other}").into()),
    }
    Ok(())
}
