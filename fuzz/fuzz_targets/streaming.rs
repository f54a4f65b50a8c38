//! Target 2: a stream of packets fed in arbitrary chunks decodes to exactly what one-shot
//! decoding of the whole stream gives — the same packets at the same boundaries, the same
//! error at the same place — and every prefix of a packet is `Partial` with a `needed` that
//! does not overshoot the packet's real length.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use umqtt::packet::{DecodeError, Status, decode};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Chunk sizes, used in turn (0 is read as 1).
    chunks: Vec<u8>,
    stream: Vec<u8>,
}

/// What decoding a stream yields: packet lengths in order, then how it ended.
#[derive(Debug, PartialEq)]
enum End {
    /// Bytes left over that are not yet a whole packet.
    Partial,
    Error(DecodeError),
}

fn one_shot(mut rest: &[u8]) -> (Vec<usize>, End) {
    let mut lens = Vec::new();
    loop {
        match decode(rest) {
            Ok(Status::Complete { len, .. }) => {
                lens.push(len);
                rest = &rest[len..];
            }
            Ok(Status::Partial { .. }) => return (lens, End::Partial),
            Err(e) => return (lens, End::Error(e)),
        }
    }
}

fuzz_target!(|input: Input| {
    let expected = one_shot(&input.stream);
    let mut buf: Vec<u8> = Vec::new();
    let mut lens = Vec::new();
    let mut fed = 0;
    let mut chunk = 0;
    let end = 'feed: loop {
        // Decode everything the buffer holds.
        loop {
            match decode(&buf) {
                Ok(Status::Complete { len, packet }) => {
                    // The same bytes one-shot give the same packet.
                    match decode(&buf[..len]) {
                        Ok(Status::Complete { packet: again, len: l }) => {
                            assert_eq!(l, len);
                            assert_eq!(again, packet);
                        }
                        other => panic!("a complete packet re-decoded as {other:?}"),
                    }
                    lens.push(len);
                    buf.drain(..len);
                }
                Ok(Status::Partial { needed }) => {
                    assert!(needed >= 1);
                    // `needed` is a lower bound: the packet one-shot decoding found here is
                    // at least that long.
                    if let Some(&real) = expected.0.get(lens.len()) {
                        assert!(buf.len() + needed <= real, "needed overshoots");
                    }
                    break;
                }
                Err(e) => break 'feed End::Error(e),
            }
        }
        if fed == input.stream.len() {
            break End::Partial;
        }
        let size = usize::from(input.chunks.get(chunk).copied().unwrap_or(7).max(1));
        chunk = (chunk + 1) % input.chunks.len().max(1);
        let next = (fed + size).min(input.stream.len());
        buf.extend_from_slice(&input.stream[fed..next]);
        fed = next;
    };
    assert_eq!((lens, end), expected);
});
