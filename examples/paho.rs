//! paho-mqtt's way, with `StdClient`: a callback per filter, a loop that also watches a
//! deadline, and a client that reconnects, resubscribes and republishes by itself.
//!
//! `cargo run --example paho` starts a real MQTT broker in-process (rumqttd) on a free
//! loopback port. `-- --host H --port P` uses any broker instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use umqtt::{ConnectOptions, Event, QoS, StdClient};
use umqtt_testbroker as broker;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let addr = match (arg("--host"), arg("--port")) {
        (Some(h), p) => format!("{h}:{}", p.map_or("1883", String::as_str)),
        (None, _) => broker::start().to_string(),
    };

    let options = ConnectOptions::new("umqtt-paho")?
        .keep_alive_secs(30)
        .will("umqtt/paho/status", b"offline", QoS::AtLeastOnce, true)?;
    let mut mqtt = StdClient::connect(addr.as_str(), options)?;
    println!("connected to {addr}");

    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    mqtt.on("umqtt/paho/sensors/#", QoS::AtLeastOnce, move |m| {
        println!("sensor {}: {}", m.topic, String::from_utf8_lossy(m.payload));
        count.fetch_add(1, Ordering::SeqCst);
    })?;
    let count = seen.clone();
    mqtt.on("umqtt/paho/alerts/+", QoS::ExactlyOnce, move |m| {
        println!("ALERT {}: {}", m.topic, String::from_utf8_lossy(m.payload));
        count.fetch_add(1, Ordering::SeqCst);
    })?;
    // Everything else: SUBACKs, acknowledgements, reconnects.
    mqtt.on_event(|event| match event {
        Event::Connected { session_present } => {
            println!("reconnected (session: {session_present})")
        }
        Event::Subscribed { codes, .. } => {
            println!("subscribed: {:?}", codes.iter().collect::<Vec<_>>())
        }
        _ => {}
    });

    mqtt.publish("umqtt/paho/status", "online", QoS::AtLeastOnce, true)?;
    mqtt.publish(
        "umqtt/paho/sensors/kitchen/temp",
        "21.5",
        QoS::AtLeastOnce,
        false,
    )?;
    mqtt.publish(
        "umqtt/paho/sensors/hall/humidity",
        "40",
        QoS::AtMostOnce,
        false,
    )?;
    mqtt.publish(
        "umqtt/paho/alerts/smoke",
        "kitchen",
        QoS::ExactlyOnce,
        false,
    )?;
    mqtt.publish("umqtt/paho/other", "nobody listens", QoS::AtMostOnce, false)?;

    // run_for hands events to the callbacks for 100 ms and returns, so the deadline is seen.
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
        mqtt.run_for(100)?;
    }
    mqtt.disconnect()?;
    let seen = seen.load(Ordering::SeqCst);
    println!("got {seen} messages, disconnected");
    if seen == 3 {
        Ok(())
    } else {
        Err(format!("expected 3 messages, got {seen}").into())
    }
}
