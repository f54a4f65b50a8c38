//! Target 2: a stream of packets fed in arbitrary chunks decodes to exactly what one-shot
//! decoding of the whole stream gives — the same packets at the same boundaries, the same
//! error at the same place — and every prefix of a packet is `Partial` with a `needed` that
//! does not overshoot the packet's real length.
//!
//! The input is the stream itself (so the seed packets stay whole); the chunk sizes come from
//! a generator seeded by the input, mostly 1–8 bytes with an occasional large one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use umqtt::packet::{DecodeError, Status, decode};

/// What decoding a stream yields after its packets: bytes left that are not yet a whole
/// packet, or an error.
#[derive(Debug, PartialEq)]
enum End {
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

/// Chunk sizes: xorshift seeded by the input's length and first bytes.
struct Chunks(u64);

impl Chunks {
    fn new(data: &[u8]) -> Self {
        let seed = data
            .iter()
            .take(8)
            .fold(data.len() as u64 ^ 0x9E37_79B9_7F4A_7C15, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
            });
        Chunks(seed | 1)
    }

    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if self.0 % 16 == 0 {
            1 + (self.0 >> 8) as usize % 512
        } else {
            1 + (self.0 >> 8) as usize % 8
        }
    }
}

fuzz_target!(|stream: &[u8]| {
    let expected = one_shot(stream);
    let mut chunks = Chunks::new(stream);
    let mut buf: Vec<u8> = Vec::new();
    let mut lens = Vec::new();
    let mut fed = 0;
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
        if fed == stream.len() {
            break End::Partial;
        }
        let next = (fed + chunks.next()).min(stream.len());
        buf.extend_from_slice(&stream[fed..next]);
        fed = next;
    };
    assert_eq!((lens, end), expected);
});
