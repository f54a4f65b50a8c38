//! Instruction counts of the codec next to mqttrs and a plain copy, for `valgrind
//! --tool=callgrind` (repeatable whatever else the machine does): this binary runs one
//! implementation on one case `N` times; `benches/instructions.sh` runs it under callgrind
//! with N = 0 and N = 100,000 and prints the difference per operation.
//!
//! `instructions <decode|encode> <umqtt|mqttrs|copy> <case> <N>` (the cases of
//! `support/cases.rs`). Without arguments (`cargo bench`) it does nothing.

#[path = "support/cases.rs"]
mod cases;

use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, op, implementation, case, n] = &args[..] else {
        return;
    };
    let n: usize = n.parse().unwrap();
    let case = cases::cases()
        .into_iter()
        .find(|c| &c.name == case)
        .expect("no such case");
    let bytes = &case.bytes;
    let mut out = vec![0u8; bytes.len() + 16];
    match (op.as_str(), implementation.as_str()) {
        ("decode", "umqtt") => (0..n).for_each(|_| {
            black_box(umqtt::packet::decode(black_box(bytes)).unwrap());
        }),
        ("decode", "mqttrs") => (0..n).for_each(|_| {
            black_box(mqttrs::decode_slice(black_box(bytes)).unwrap());
        }),
        ("encode", "umqtt") => {
            let umqtt::packet::Status::Complete { packet, .. } =
                umqtt::packet::decode(bytes).unwrap()
            else {
                unreachable!()
            };
            (0..n).for_each(|_| {
                black_box(black_box(&packet).encode(&mut out).unwrap());
            })
        }
        ("encode", "mqttrs") => {
            let packet = mqttrs::decode_slice(bytes).unwrap().unwrap();
            (0..n).for_each(|_| {
                black_box(mqttrs::encode_slice(black_box(&packet), &mut out).unwrap());
            })
        }
        (_, "copy") => {
            let payload = case.payload.expect("copy: PUBLISH cases only");
            let mut dst = vec![0u8; payload.len()];
            (0..n).for_each(|_| dst.copy_from_slice(black_box(&payload)));
            black_box(&dst);
        }
        other => panic!("unknown {other:?}"),
    }
}
