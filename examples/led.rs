//! The Raspberry Pi LED program: payload `1` / `0` on a topic switches an
//! `embedded_hal::digital::OutputPin`, connecting with a user name and password. On a PC the
//! pin prints its state.
//!
//! `cargo run --example led -- [--host H --port P --user U --password P]`. With the in-process
//! broker (the default, which then requires the credentials) a helper thread toggles the LED.

#[path = "support/args.rs"]
mod args;

use std::cell::Cell;
use std::collections::HashMap;
use std::convert::Infallible;
use umqtt_testbroker as broker;

use embedded_hal::digital::{ErrorType, OutputPin};
use umqtt::{Blocking, Client, ConnectOptions, Event, QoS, StdClock, TcpTransport};

/// A pin that prints its state.
struct PrintPin;

impl ErrorType for PrintPin {
    type Error = Infallible;
}

impl OutputPin for PrintPin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        println!("LED off");
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Infallible> {
        println!("LED on");
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::from_env();
    let user = args.value(&["--user", "-u"]).unwrap_or_else(|| "pi".into());
    let password = args
        .value(&["--password", "-P"])
        .unwrap_or_else(|| "raspberry".into());
    let local = args.broker().is_none();
    let addr = args.broker().unwrap_or_else(|| {
        broker::start_with_auth(Some(HashMap::from([(user.clone(), password.clone())]))).to_string()
    });
    if local {
        let (addr, user, password) = (addr.clone(), user.clone(), password.clone());
        std::thread::spawn(move || -> Result<(), String> {
            let o = ConnectOptions::new("led-switch")
                .and_then(|o| o.credentials(&user, Some(password.as_bytes())))
                .map_err(|e| e.to_string())?;
            let c = Client::new(o, [0; 256], [0; 256], [0; 256]).map_err(|e| e.to_string())?;
            let io = TcpTransport::connect(&addr).map_err(|e| e.to_string())?;
            let mut sw = Blocking::new(c, io, StdClock::new(), |_| {});
            sw.connect().map_err(|e| e.to_string())?;
            for state in ["1", "0", "1", "0"] {
                std::thread::sleep(std::time::Duration::from_millis(300));
                sw.publish("home/led", state.as_bytes(), QoS::AtLeastOnce, false)
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        });
    }
    let options =
        ConnectOptions::new("umqtt-led")?.credentials(&user, Some(password.as_bytes()))?;
    let client = Client::new(options, [0; 256], [0; 256], [0; 256])?;
    // The callback owns the pin: a message switches it wherever it arrives.
    let mut led = PrintPin;
    let switches = Cell::new(0);
    let callback = |event: Event<'_>| {
        if let Event::Message(m) = event {
            match m.payload {
                b"1" => led.set_high().unwrap_or(()),
                b"0" => led.set_low().unwrap_or(()),
                other => eprintln!("ignoring {:?}", String::from_utf8_lossy(other)),
            }
            switches.set(switches.get() + 1);
        }
    };
    let mut mqtt = Blocking::new(
        client,
        TcpTransport::connect(&addr)?,
        StdClock::new(),
        callback,
    );
    mqtt.connect()?;
    mqtt.subscribe("home/led", QoS::AtLeastOnce)?;
    while !local || switches.get() < 4 {
        mqtt.wait_msg()?;
    }
    mqtt.disconnect()?;
    Ok(())
}
