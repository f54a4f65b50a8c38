//! Fast scanning of string bytes for the few bytes MQTT forbids or treats specially
//! (U+0000, `+`, `#`), eight bytes at a time.

/// The longest MQTT string (1.5.3): its length is a 16-bit prefix. The one limit for
/// strings, topic names and filters.
pub(crate) const MAX_STR_LEN: usize = u16::MAX as usize;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// True when some byte of the word `v` equals `b` (the classic "has zero byte" test on
/// `v ^ b…b`; exact, no false positives when used as a yes/no answer).
const fn word_has(v: u64, b: u8) -> bool {
    let x = v ^ (LO.wrapping_mul(b as u64));
    x.wrapping_sub(LO) & !x & HI != 0
}

/// True when `bytes` contains any of `needles`.
pub(crate) const fn has_any<const N: usize>(bytes: &[u8], needles: [u8; N]) -> bool {
    let mut rest = bytes;
    while let [a, b, c, d, e, f, g, h, tail @ ..] = rest {
        let v = u64::from_le_bytes([*a, *b, *c, *d, *e, *f, *g, *h]);
        let mut ns: &[u8] = &needles;
        while let [n, more @ ..] = ns {
            if word_has(v, *n) {
                return true;
            }
            ns = more;
        }
        rest = tail;
    }
    while let [byte, tail @ ..] = rest {
        let mut ns: &[u8] = &needles;
        while let [n, more @ ..] = ns {
            if *byte == *n {
                return true;
            }
            ns = more;
        }
        rest = tail;
    }
    false
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::has_any;
    use std::{vec, vec::Vec};

    #[test]
    fn finds_each_needle_at_every_position() {
        for len in 0..40 {
            for pos in 0..len {
                for needle in [0u8, b'+', b'#'] {
                    let mut v = vec![b'a'; len];
                    v[pos] = needle;
                    assert!(has_any(&v, [0, b'+', b'#']), "len {len} pos {pos} {needle}");
                    assert_eq!(has_any(&v, [0]), needle == 0);
                }
            }
            assert!(!has_any(&vec![b'a'; len], [0, b'+', b'#']));
        }
        // Bytes next to the needles, and high bytes, are not mistaken for them.
        let near: Vec<u8> = (1u8..=255).filter(|b| ![b'+', b'#'].contains(b)).collect();
        assert!(!has_any(&near, [0, b'+', b'#']));
    }
}
