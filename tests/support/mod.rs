//! What the tests share, by what it is. Each test file takes the module it needs
//! (`mod support; use support::scripted::*;`).
#![allow(dead_code, unused_imports)]

/// Real brokers on loopback (mosquitto with a generated config, or the in-process rumqttd)
/// and `Conn`, a client over real sockets with bounded waits.
pub mod broker;
/// Codec helpers: decode/encode byte vectors (and write them as fuzzing seeds on request).
pub mod codec;
/// A NOR flash in RAM whose power can be cut mid-write (torn snapshots).
pub mod flash;
/// The other brokers of the matrix: aedes, amqtt, RabbitMQ (and `Kind`, naming all five).
pub mod others;
/// Certificates made at test time and mosquitto with a TLS listener.
pub mod pki;
/// A loopback proxy that cuts every connection through it on demand.
pub mod proxy;
/// The scripted broker: an in-memory transport that checks the exact bytes the client sends,
/// answers as the test says, and runs every flow through the three drivers.
pub mod scripted;
