//! Target 3: whatever decodes re-encodes to exactly `encoded_len()` bytes that decode to
//! the same packet, and encoding into a buffer one byte short is a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umqtt::packet::{EncodeError, Status, decode};

fuzz_target!(|data: &[u8]| {
    let Ok(Status::Complete { packet, .. }) = decode(data) else {
        return;
    };
    let n = packet.encoded_len();
    let mut buf = vec![0u8; n];
    assert_eq!(packet.encode(&mut buf), Ok(n));
    match decode(&buf) {
        Ok(Status::Complete { packet: again, len }) => {
            assert_eq!(len, n);
            assert_eq!(again, packet);
        }
        other => panic!("re-encoded packet decodes as {other:?}"),
    }
    if n > 0 {
        assert!(matches!(
            packet.encode(&mut buf[..n - 1]),
            Err(EncodeError::BufferTooSmall { .. })
        ));
    }
});
