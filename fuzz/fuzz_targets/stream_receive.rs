//! Target 5: streaming receive (`ConnectOptions::stream_oversized`). The broker sends
//! arbitrary PUBLISHes — many larger than the client's 64-byte rx, some with hostile lengths
//! (a Remaining Length announcing far more than ever comes) or raw bytes — fed in arbitrary
//! read sizes, with connections cut at arbitrary points. No panic, no hang, and:
//! - every message handed out whole (`Message`) or in pieces (`Chunk`) has exactly the bytes
//!   sent, the pieces in order from offset 0, each at most rx long;
//! - a message is reported complete (a last piece) only with all its bytes, and never after a
//!   cut took its end away (a hostile length is always followed by a cut).
//! (That the acknowledgement follows the last piece is checked in tests/client_flows.rs.)
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use umqtt::client::{Client, ConnectOptions, Event, Progress};
use umqtt::packet::*;
use umqtt::topic::TopicName;

const RX: usize = 64;

#[derive(Arbitrary, Debug)]
enum Send {
    /// A PUBLISH of `len` × 4 + `extra` bytes, `seed` filling the payload.
    Publish { qos: u8, len: u8, extra: u8, seed: u8, dup: bool },
    /// A PUBLISH head announcing `announced` payload bytes, then only `sent` of them.
    Hostile { announced: u32, sent: u8 },
    /// Raw bytes.
    Raw(Vec<u8>),
    /// The connection ends here.
    Cut,
}

#[derive(Arbitrary, Debug)]
struct Input {
    sends: Vec<Send>,
    reads: Vec<u8>,
}

fn publish_bytes(qos: u8, payload: &[u8], pid: u16, dup: bool) -> Vec<u8> {
    let pid = PacketId::new(pid.max(1)).unwrap_or(PacketId::new(1).unwrap());
    let qos = match qos % 3 {
        0 => QosPid::AtMostOnce,
        1 => QosPid::AtLeastOnce(pid),
        _ => QosPid::ExactlyOnce(pid),
    };
    let p = Packet::Publish(Publish {
        dup: dup && !matches!(qos, QosPid::AtMostOnce),
        qos,
        retain: false,
        topic: TopicName::new("big/t").unwrap(),
        payload,
    });
    let mut buf = vec![0; p.encoded_len()];
    let n = p.encode(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// What the client handed out of the message being received.
#[derive(Default)]
struct Assembly {
    got: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let options = ConnectOptions::new("f").unwrap().keep_alive_secs(0).stream_oversized(true);
    let mut client = Client::new(options, vec![0u8; RX], vec![0u8; 256], vec![0u8; 512]).unwrap();
    let connack = [0x20, 0x02, 0x00, 0x00];
    let mut reads = input.reads.iter().cycle().map(|r| usize::from(*r % 97) + 1);
    let mut now = 0u64;
    client.connect(now).unwrap();
    let mut stream: Vec<u8> = connack.to_vec();
    // The expected whole payloads, in order, of the messages sent since the last cut.
    let mut expected: std::collections::VecDeque<Vec<u8>> = Default::default();
    let mut current = Assembly::default();
    let mut pid = 1u16;
    let mut sends = input.sends.into_iter().take(24);
    // False after raw bytes: the framing is anyone's guess until the next connection.
    let mut trusted = true;
    // A hostile message's end never comes: the next thing is a cut.
    let mut must_cut = false;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 200_000, "no progress");
        // Feed the next send into the byte stream when the stream runs dry.
        if stream.is_empty() {
            let next = if std::mem::take(&mut must_cut) { Some(Send::Cut) } else { sends.next() };
            match next {
                None => break,
                Some(Send::Publish { qos, len, extra, seed, dup }) => {
                    let n = usize::from(len) * 4 + usize::from(extra);
                    let payload: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
                    stream = publish_bytes(qos, &payload, pid, dup);
                    pid = pid.wrapping_add(1).max(1);
                    if trusted {
                        expected.push_back(payload);
                    }
                }
                Some(Send::Hostile { announced, sent }) => {
                    let announced = (announced as usize).min(MAX_REMAINING_LENGTH - 8);
                    let mut head = vec![0x30];
                    let mut rl = announced + 7; // topic "big/t" (2 + 5) + payload
                    loop {
                        let b = (rl % 128) as u8;
                        rl /= 128;
                        head.push(if rl > 0 { b | 0x80 } else { b });
                        if rl == 0 {
                            break;
                        }
                    }
                    head.extend_from_slice(&[0, 5, b'b', b'i', b'g', b'/', b't']);
                    head.extend(std::iter::repeat_n(0xAB, usize::from(sent).min(announced)));
                    let complete = usize::from(sent) >= announced;
                    stream = head;
                    if trusted && complete {
                        expected.push_back(vec![0xAB; announced]);
                    }
                    must_cut = !complete;
                }
                Some(Send::Raw(bytes)) => {
                    stream = bytes;
                    expected.clear();
                    trusted = false;
                }
                Some(Send::Cut) => {
                    client.connection_lost();
                    // A message cut before its end was never reported complete (checked
                    // below, at its last piece); start over on a new connection.
                    current = Assembly::default();
                    expected.clear();
                    trusted = true;
                    client.connect(now).unwrap();
                    stream = connack.to_vec();
                    continue;
                }
            }
        }
        // One read of arbitrary size.
        let space = client.rx_space();
        let n = reads.next().unwrap_or(1).min(space.len()).min(stream.len());
        space[..n].copy_from_slice(&stream[..n]);
        stream.drain(..n);
        client.received(n);
        // Process until idle; drain what the client writes.
        loop {
            now += 1;
            let progress = match client.advance(now) {
                Ok(p) => p,
                Err(_) => {
                    // A typed error closes the connection: start over.
                    client.connection_lost();
                    current = Assembly::default();
                    expected.clear();
                    trusted = true;
                    must_cut = false;
                    client.connect(now).unwrap();
                    stream = connack.to_vec();
                    break;
                }
            };
            match progress {
                Progress::Idle => break,
                Progress::Continue => {}
                Progress::Event => match client.event() {
                    Some(Event::Message(m)) => {
                        if trusted {
                            let want = expected.pop_front().expect("a message nobody sent");
                            assert_eq!(m.payload, want.as_slice());
                        }
                    }
                    Some(Event::Chunk(c)) => {
                        assert!(c.data.len() <= RX, "a piece larger than rx");
                        assert_eq!(c.offset, current.got.len(), "pieces out of order");
                        current.got.extend_from_slice(c.data);
                        if c.is_last() {
                            let got = std::mem::take(&mut current.got);
                            if trusted {
                                let want = expected.pop_front().expect("a message nobody sent");
                                assert_eq!(got, want, "a streamed message differs");
                            }
                        }
                    }
                    _ => {}
                },
            }
            let out = client.poll_transmit().len();
            client.transmitted(out, now);
        }
    }
});
