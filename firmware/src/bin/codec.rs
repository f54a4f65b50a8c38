//! The codec alone on a Cortex-M4: decodes a stream holding one packet of each of the 14
//! types, re-encodes each and checks the bytes match. Runs under QEMU like `client`
//! (exit 0 on success) and has the same link-time no-panic panic handler, so it is also the
//! proof that the codec cannot panic. Its size is the codec's footprint.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
// The device's interrupt vectors (STM32F4; QEMU's netduinoplus2 is an STM32F405).
use stm32f4xx_hal as _;
// The panic handler: the no-panic proof (firmware/src/no_panic.rs).
use umqtt::packet::{Status, decode};
use umqtt_firmware as _;

/// One packet of each type, as a broker or client would send them.
static STREAM: [u8; 100] = [
    // CONNECT: clean session, keep-alive 60, client id "fw", will "w"/"x", user "u", password "p"
    0x10, 0x1A, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xC6, 0x00, 0x3C, 0x00, 0x02, b'f', b'w',
    0x00, 0x01, b'w', 0x00, 0x01, b'x', 0x00, 0x01, b'u', 0x00, 0x01, b'p', // CONNACK
    0x20, 0x02, 0x01, 0x00, // PUBLISH QoS 1, id 5, topic "a/b", payload "hi"
    0x32, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x05, b'h', b'i', // PUBACK, PUBREC
    0x40, 0x02, 0x00, 0x05, 0x50, 0x02, 0x00, 0x06, // PUBREL, PUBCOMP
    0x62, 0x02, 0x00, 0x06, 0x70, 0x02, 0x00, 0x06,
    // SUBSCRIBE id 7: "a/#" QoS 2, "+/b" QoS 0
    0x82, 0x0E, 0x00, 0x07, 0x00, 0x03, b'a', b'/', b'#', 0x02, 0x00, 0x03, b'+', b'/', b'b',
    0x00, // SUBACK id 7: granted 2, failure
    0x90, 0x04, 0x00, 0x07, 0x02, 0x80, // UNSUBSCRIBE id 8: "a/#"
    0xA2, 0x07, 0x00, 0x08, 0x00, 0x03, b'a', b'/', b'#', // UNSUBACK id 8
    0xB0, 0x02, 0x00, 0x08, // PINGREQ, PINGRESP, DISCONNECT
    0xC0, 0x00, 0xD0, 0x00, 0xE0, 0x00,
];

/// Packets decoded and re-encoded to the same bytes; 14 when all went well.
#[inline(never)]
fn roundtrip(mut rest: &[u8]) -> usize {
    let mut ok = 0;
    let mut out = [0u8; 64];
    while !rest.is_empty() {
        let Ok(Status::Complete { packet, len }) = decode(rest) else {
            return ok;
        };
        let Ok(n) = packet.encode(&mut out) else {
            return ok;
        };
        if out.get(..n) != rest.get(..len) {
            return ok;
        }
        ok += 1;
        rest = rest.get(len..).unwrap_or_default();
    }
    ok
}

#[entry]
fn main() -> ! {
    let ok = roundtrip(core::hint::black_box(&STREAM));
    debug::exit(if ok == 14 { EXIT_SUCCESS } else { EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}
