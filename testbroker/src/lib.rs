//! A real MQTT broker in-process: rumqttd on a free loopback port, so umqtt's examples and
//! tests run with no setup. A development crate of the workspace (not published): the
//! examples and the tests both depend on it.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Starts rumqttd on 127.0.0.1 at a free port and returns its address once it accepts
/// connections. The broker runs on background threads until the process exits.
pub fn start() -> SocketAddr {
    start_with_auth(None)
}

/// [`start`], as a URL: `mqtt://127.0.0.1:PORT`.
pub fn url() -> String {
    format!("mqtt://{}", start())
}

/// Like [`start`], accepting only the given user names and passwords when `auth` is set.
pub fn start_with_auth(auth: Option<HashMap<String, String>>) -> SocketAddr {
    // Ask the OS for a free port, then hand it to the broker.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = rumqttd::ServerSettings {
        name: "v4".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 0,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 1 << 20,
            max_inflight_count: 100,
            auth,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 1_000,
            max_outgoing_packet_count: 200,
            max_segment_size: 100 << 20,
            max_segment_count: 10,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("v4".to_string(), server)])),
        ..Default::default()
    };
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        if let Err(e) = broker.start() {
            eprintln!("in-process broker stopped: {e}");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "in-process broker did not start on {addr}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    addr
}
