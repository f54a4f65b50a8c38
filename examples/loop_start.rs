//! paho-mqtt's `loop_start()` program: the network runs in a background thread (on connect
//! it announces itself, on message it prints), while the main thread publishes a reading
//! every 500 ms.
//!
//! `cargo run --example loop_start` starts a real MQTT broker in-process (rumqttd) on a free
//! loopback port; `-- --url mqtt://H:P` (or ws://, mqtts://, wss://) uses any broker instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use umqtt::{ConnectOptions, Event, QoS, StdClient};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = match args.iter().position(|a| a == "--url") {
        Some(i) => args.get(i + 1).ok_or("--url needs a URL")?.clone(),
        None => format!("mqtt://{}", umqtt_testbroker::start()),
    };
    let mut mqtt = StdClient::connect(url.as_str(), ConnectOptions::new("loop-start")?)?;
    let handle = mqtt.handle()?; // for the callbacks, and for the main thread below
    let online = handle.clone();
    mqtt.on_event(move |event| {
        if let Event::Connected { .. } = event {
            println!("on_connect");
            let _ = online.publish("sensors/status", "online", QoS::AtLeastOnce, true);
        }
    });
    let received = Arc::new(AtomicUsize::new(0));
    let seen = received.clone();
    mqtt.on("sensors/#", QoS::AtLeastOnce, move |m| {
        println!(
            "on_message {} {}",
            m.topic,
            String::from_utf8_lossy(m.payload)
        );
        if m.topic.as_str() == "sensors/temp" {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    })?;
    let (_, network) = mqtt.spawn()?; // loop_start()

    for i in 0..10 {
        let reading = format!("{:.1}", 20.0 + f64::from(i) / 10.0);
        handle.publish("sensors/temp", &reading, QoS::AtLeastOnce, false)?;
        std::thread::sleep(Duration::from_millis(500));
    }
    handle.disconnect()?; // every reading acknowledged first; loop_stop()
    network
        .join()
        .map_err(|_| "the network thread panicked")??;
    let n = received.load(Ordering::SeqCst);
    println!("received {n} readings back, disconnected");
    // Each reading once (the retained "online" may come twice: live, and as the retained
    // copy a broker sends a subscription that races it).
    if n == 10 {
        Ok(())
    } else {
        Err(format!("expected 10 readings, got {n}").into())
    }
}
