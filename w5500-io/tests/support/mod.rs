//! What the emulator tests share: a thread-sleeping delay, the chip's addresses, test data.
#![allow(dead_code)] // each test file uses its part

use std::time::Duration;

use w5500_io::NetConfig;

/// A delay that sleeps the thread.
#[derive(Debug, Clone, Copy)]
pub struct StdDelay;

impl embedded_hal::delay::DelayNs for StdDelay {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(Duration::from_nanos(u64::from(ns)));
    }
}

pub const CONFIG: NetConfig = NetConfig {
    mac: [0x02, 0x00, 0x00, 0x00, 0x55, 0x00],
    ip: [127, 0, 0, 2],
    gateway: [127, 0, 0, 1],
    subnet: [255, 0, 0, 0],
};

pub fn ip_port(addr: std::net::SocketAddr) -> ([u8; 4], u16) {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => (ip.octets(), addr.port()),
        ip => panic!("not IPv4: {ip}"),
    }
}

/// Deterministic bytes: every position differs from its neighbours and from other runs.
pub fn pattern(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
