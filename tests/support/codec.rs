//! Helpers shared by the codec tests.

use umqtt::packet::{DecodeError, Packet, Status, decode};

/// With `UMQTT_WRITE_CORPUS=dir`, every vector the tests decode or encode is also written to
/// `dir` as a fuzzing seed (`fuzz/README.md`).
fn seed(bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("UMQTT_WRITE_CORPUS") {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        let path = std::path::Path::new(&dir).join(format!("{:016x}", h.finish()));
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(path, bytes))
            .expect("write seed");
    }
}

/// Decodes `bytes`, which must hold exactly one whole valid packet.
pub fn ok(bytes: &[u8]) -> Packet<'_> {
    seed(bytes);
    match decode(bytes) {
        Ok(Status::Complete { packet, len }) => {
            assert_eq!(len, bytes.len(), "packet length differs from input length");
            packet
        }
        other => panic!("expected a complete packet from {bytes:02x?}, got {other:?}"),
    }
}

/// Decodes `bytes`, which must be malformed; returns the error.
pub fn err(bytes: &[u8]) -> DecodeError {
    seed(bytes);
    match decode(bytes) {
        Err(e) => e,
        other => panic!("expected an error from {bytes:02x?}, got {other:?}"),
    }
}

/// Encodes `packet` and returns the bytes, checking `encoded_len` on the way.
pub fn enc(packet: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; packet.encoded_len()];
    let n = packet.encode(&mut buf).expect("encode");
    assert_eq!(n, packet.encoded_len());
    seed(&buf);
    buf
}
