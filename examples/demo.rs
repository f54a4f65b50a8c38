//! The demo: connect, subscribe with a wildcard, publish at QoS 0, 1 and 2, print what
//! arrives, disconnect cleanly.
//!
//! `cargo run --example demo` starts a real MQTT broker in-process (rumqttd) on a free
//! loopback port, so it needs nothing installed. `--host H --port P` uses any broker instead.

#[path = "support/broker.rs"]
mod broker;

use std::process::ExitCode;

use umqtt::adapters::std_tcp::TcpTransport;
use umqtt::blocking::Blocking;
use umqtt::client::{Client, ConnectOptions, Event};
use umqtt::packet::QoS;
use umqtt::time::StdClock;

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

    let (mut rx, mut tx, mut store) = ([0u8; 1024], [0u8; 1024], [0u8; 2048]);
    let options = ConnectOptions::new("umqtt-demo")?.keep_alive_secs(30);
    let client = Client::new(options, &mut rx, &mut tx, &mut store)?;
    let mut mqtt = Blocking::new(client, TcpTransport::connect(&addr)?, StdClock::new());

    let session_present = mqtt.connect()?;
    println!("connected to {addr} (session present: {session_present})");
    mqtt.subscribe("umqtt/demo/#", QoS::ExactlyOnce)?;

    let (mut received, mut completed) = (0, 0);
    while received < 3 || completed < 2 {
        match mqtt.next_event()? {
            Event::Subscribed { codes, .. } => {
                println!(
                    "subscribed to umqtt/demo/#: {:?}",
                    codes.iter().collect::<Vec<_>>()
                );
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
            }
            Event::Message(m) => {
                received += 1;
                println!(
                    "received {:?} on {} at {:?}",
                    String::from_utf8_lossy(m.payload),
                    m.topic,
                    m.qos.qos()
                );
            }
            Event::Published { pid, qos } => {
                completed += 1;
                println!("broker acknowledged packet {pid} ({qos:?})");
            }
            other => println!("event: {other:?}"),
        }
    }
    mqtt.disconnect()?;
    println!("disconnected cleanly");
    Ok(())
}
