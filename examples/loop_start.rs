//! paho-mqtt's `loop_start()` program: the network runs in a background thread (on connect
//! it announces itself, on message it prints), while the main thread publishes a reading
//! every 500 ms; then it checks that the ten readings came back. `examples/loop_start.py` is
//! the same program written with paho-mqtt (CI runs both).
//!
//! `cargo run --example loop_start` starts a real MQTT broker in-process (rumqttd) on a free
//! loopback port; `-- mqtt://H:P` (or ws://, mqtts://, wss://) uses any broker instead.

use std::{env::args, sync::mpsc, thread, time::Duration};
use umqtt::{ConnectOptions, QoS, StdClient};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = args().nth(1).unwrap_or_else(umqtt_testbroker::url);
    let mut mqtt = StdClient::connect(url.as_str(), ConnectOptions::new("loop-start")?)?;
    mqtt.on_connect(|mqtt| {
        println!("on_connect");
        let _ = mqtt.publish("sensors/status", "online", QoS::AtLeastOnce, true);
    })?;
    let (back, readings) = mpsc::channel();
    mqtt.on("sensors/#", QoS::AtLeastOnce, move |m| {
        let text = String::from_utf8_lossy(m.payload);
        println!("on_message {} {text}", m.topic);
        if m.topic.as_str() == "sensors/temp" {
            let _ = back.send(());
        }
    })?;
    let network = mqtt.spawn()?; // loop_start()
    for i in 0..10 {
        let reading = format!("{:.1}", 20.0 + f64::from(i) / 10.0);
        network.publish("sensors/temp", reading, QoS::AtLeastOnce, false)?;
        thread::sleep(Duration::from_millis(500));
    }
    network.stop()?; // loop_stop(), once every reading is acknowledged
    let n = readings.try_iter().count();
    println!("received {n} readings back");
    assert_eq!(n, 10, "each reading once");
    Ok(())
}
