//! tokio: one task publishes every 200 ms, another prints a wildcard subscription, both
//! through one cloneable `TokioClient`; the event loop reconnects with backoff (restart the
//! broker while it runs: it carries on) and restores the subscription.
//!
//! `cargo run --example tokio [-- --count N] [--host H --port P]` (in-process broker and 5
//! messages by default; with `--host`, runs until Ctrl-C unless `--count` is given).

use std::time::Duration;
use umqtt_testbroker as broker;

use umqtt::managed::tokio::{OwnedEvent, TokioClient};
use umqtt::{ConnectOptions, QoS};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        let i = args.iter().position(|a| a == name)?;
        args.get(i + 1).cloned()
    };
    let (addr, count) = match arg("--host") {
        Some(h) => (
            format!("{h}:{}", arg("--port").unwrap_or("1883".into())),
            None,
        ),
        None => (
            tokio::task::spawn_blocking(broker::start)
                .await?
                .to_string(),
            Some(5),
        ),
    };
    let count = arg("--count").map(|c| c.parse()).transpose()?.or(count);

    let options = ConnectOptions::new("umqtt-tokio")?.keep_alive_secs(5);
    let (client, mut eventloop) = TokioClient::new(addr, options, 16)?;
    client.subscribe("umqtt/tokio/#", QoS::AtLeastOnce).await?; // queued

    // A publish is answered by the event loop, which this task polls below.
    let publisher = client.clone();
    tokio::spawn(async move {
        for n in 0u64.. {
            let payload = format!("tick {n}");
            if let Err(e) = publisher
                .publish("umqtt/tokio/tick", payload, QoS::AtLeastOnce, false)
                .await
            {
                eprintln!("publish: {e}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    let mut received = 0;
    loop {
        match eventloop.poll().await {
            Ok(OwnedEvent::Message(m)) => {
                println!("{}: {}", m.topic, String::from_utf8_lossy(&m.payload));
                received += 1;
                if count.is_some_and(|c| received >= c) {
                    let bye = client.clone();
                    tokio::spawn(async move { bye.disconnect().await });
                }
            }
            Ok(OwnedEvent::Disconnected) => break,
            Ok(OwnedEvent::Connected { session_present }) => {
                println!("connected (session present: {session_present})");
            }
            Ok(_) => {}
            Err(e) => eprintln!("{e}; reconnecting"),
        }
    }
    println!("disconnected after {received} messages");
    Ok(())
}
