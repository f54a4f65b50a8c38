//! Async publish and subscribe with tokio: `cargo run --example tokio --features tokio`
//! (in-process broker by default, or `--host H --port P`).

#[path = "support/broker.rs"]
mod broker;

use umqtt::adapters::tokio::{TokioDelay, connect};
use umqtt::asynch::Async;
use umqtt::client::{Client, ConnectOptions, Event};
use umqtt::packet::QoS;
use umqtt::time::StdClock;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let addr = match arg("--host") {
        Some(h) => format!("{h}:{}", arg("--port").unwrap_or_else(|| "1883".into())),
        None => tokio::task::spawn_blocking(broker::start)
            .await?
            .to_string(),
    };

    let (mut rx, mut tx, mut store) = ([0u8; 1024], [0u8; 1024], [0u8; 4096]);
    let client = Client::new(
        ConnectOptions::new("umqtt-tokio")?,
        &mut rx,
        &mut tx,
        &mut store,
    )?;
    let mut mqtt = Async::new(client, connect(&addr).await?, StdClock::new(), TokioDelay);
    mqtt.connect().await?;
    mqtt.subscribe("umqtt/tokio/+", QoS::AtLeastOnce).await?;
    let mut got = 0;
    while got < 3 {
        match mqtt.next_event().await? {
            Event::Subscribed { .. } => {
                for i in 0..3 {
                    mqtt.publish(
                        "umqtt/tokio/count",
                        format!("{i}").as_bytes(),
                        QoS::AtLeastOnce,
                        false,
                    )
                    .await?;
                }
            }
            Event::Message(m) => {
                got += 1;
                println!(
                    "received {:?} on {}",
                    String::from_utf8_lossy(m.payload),
                    m.topic
                );
            }
            other => println!("event: {other:?}"),
        }
    }
    mqtt.disconnect().await?;
    println!("disconnected");
    Ok(())
}
