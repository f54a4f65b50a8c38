//! Target 1: decode arbitrary bytes. No panic; a complete packet knows its encoded length and
//! never claims more bytes than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umqtt::packet::{Status, decode};

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        Ok(Status::Complete { packet, len }) => {
            assert!(len <= data.len());
            let _ = packet.encoded_len();
        }
        Ok(Status::Partial { needed }) => assert!(needed >= 1),
        Err(_) => {}
    }
});
