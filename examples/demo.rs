//! The demo: connect, subscribe with a wildcard, publish at QoS 0, 1 and 2, print what
//! arrives, disconnect cleanly.
//!
//! `cargo run --example demo` starts a real MQTT broker in-process (rumqttd) on a free
//! loopback port, so it needs nothing installed. `--host H --port P` uses any broker instead.

use std::process::ExitCode;
use umqtt_testbroker as broker;

use std::cell::Cell;

use umqtt::{Blocking, Client, ConnectOptions, Event, QoS, StdClock, TcpTransport};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut host, mut port) = (None, 1883u16);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host" => host = Some(args.next().ok_or("--host needs a value")?),
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            other => {
                return Err(format!("unknown argument {other:?} (use --host H --port P)").into());
            }
        }
    }
    let addr = match host {
        Some(h) => format!("{h}:{port}"),
        None => {
            let addr = broker::start();
            println!("started an in-process MQTT broker (rumqttd) on {addr}");
            addr.to_string()
        }
    };

    // Every event is printed by `show`: the messages and acknowledgements that arrive while
    // a call waits reach it through the driver's handler.
    let received = Cell::new(0);
    let handler = |event: Event<'_>| {
        if let Event::Message(_) = event {
            received.set(received.get() + 1);
        }
        show(&event);
    };
    let options = ConnectOptions::new("umqtt-demo")?.keep_alive_secs(30);
    let client = Client::new(options, [0u8; 1024], [0u8; 1024], [0u8; 1024])?;
    let mut mqtt = Blocking::new(
        client,
        TcpTransport::connect(&addr)?,
        StdClock::new(),
        handler,
    );

    let session_present = mqtt.connect()?;
    println!("connected to {addr} (session present: {session_present})");
    mqtt.subscribe("umqtt/demo/#", QoS::ExactlyOnce)?;
    for (qos, name) in [
        (QoS::AtMostOnce, "qos0"),
        (QoS::AtLeastOnce, "qos1"),
        (QoS::ExactlyOnce, "qos2"),
    ] {
        let topic = format!("umqtt/demo/{name}");
        let payload = format!("hello at {qos:?}");
        let pid = mqtt.publish(&topic, payload.as_bytes(), qos, false)?;
        println!(
            "published {payload:?} to {topic} (packet id {:?})",
            pid.map(|p| p.get())
        );
    }
    mqtt.wait_published()?;
    while received.get() < 3 {
        mqtt.wait_msg()?;
    }
    mqtt.disconnect()?;
    println!("disconnected cleanly");
    Ok(())
}

fn show(event: &Event<'_>) {
    match event {
        Event::Subscribed { codes, .. } => {
            println!("subscribed: {:?}", codes.iter().collect::<Vec<_>>());
        }
        Event::Message(m) => println!(
            "received {:?} on {} at {:?}",
            String::from_utf8_lossy(m.payload),
            m.topic,
            m.qos()
        ),
        Event::Published { pid, qos } => println!("broker acknowledged packet {pid} ({qos:?})"),
        other => println!("event: {other:?}"),
    }
}
