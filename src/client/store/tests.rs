//! The store's unit tests: the entry layout, the counts, and the moving log against a model.

use super::*;
use std::{vec, vec::Vec};

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap_or(PacketId(core::num::NonZeroU16::MIN))
}

#[test]
fn an_entry_is_an_8_byte_header_then_its_body_after_the_prefix_and_the_inbound_table() {
    let mut buf = [0xAAu8; 64];
    let Some(mut store) = Store::new(&mut buf[..], 3, 2, |p| {
        p.copy_from_slice(b"pre");
        true
    }) else {
        panic!("64 bytes hold a 3-byte prefix");
    };
    assert!(store.push(Kind::AwaitSuback, UNSENT, pid(0x1234), &[0, 2]));
    assert_eq!(store.prefix(0..3), b"pre");
    let e = store.entry_at(store.first()).unwrap();
    assert_eq!(
        (e.kind, e.flags, e.pid, e.body_len),
        (Kind::AwaitSuback, UNSENT, pid(0x1234), 2)
    );
    assert_eq!(store.body(&e), [0, 2]);
    assert!(store.hold(pid(0x0506)));
    assert_eq!(
        store.free(),
        64 - 3 - 2 * INBOUND_ID_BYTES - ENTRY_OVERHEAD - 2
    );
    // The table: the ids held, big-endian, packed at its start (the free slot untouched).
    assert_eq!(buf[3..7], [0x05, 0x06, 0xAA, 0xAA]);
    // kind, flags, packet id (big endian), body length (little endian u32), body.
    assert_eq!(buf[7..17], [4, UNSENT, 0x12, 0x34, 2, 0, 0, 0, 0, 2]);
}

#[test]
fn removing_keeps_the_order_of_the_rest_and_full_means_no_change() {
    let mut buf = [0u8; 40];
    let Some(mut store) = Store::new(&mut buf[..], 0, 0, |_| true) else {
        panic!("no prefix");
    };
    for n in 1..=3 {
        assert!(store.push(Kind::AwaitPuback, 0, pid(n), &[n as u8]));
    }
    // A fourth entry of 8 + 6 bytes does not fit the 13 left: nothing changes.
    assert!(!store.push(Kind::AwaitPuback, 0, pid(4), &[4; 6]));
    assert_eq!(store.iter().count(), 3);
    assert_eq!(store.counts().publishes, 3);
    let second = store.find(pid(2), Kinds::of(Kind::AwaitPuback)).unwrap();
    store.remove(&second);
    let left: [u16; 2] = core::array::from_fn(|i| store.iter().nth(i).map_or(0, |e| e.pid.get()));
    assert_eq!(left, [1, 3]);
    assert!(
        store.find(pid(3), Kinds::of(Kind::Inbound)).is_none(),
        "kind mask"
    );
    store.retain(|e| e.pid == pid(3));
    assert_eq!(store.iter().map(|e| e.pid.get()).sum::<u16>(), 3);
    assert_eq!(store.counts().publishes, 1);
}

#[test]
fn the_counts_follow_every_push_flag_and_removal() {
    let mut buf = [0u8; 256];
    let Some(mut store) = Store::new(&mut buf[..], 0, 0, |_| true) else {
        panic!("no prefix");
    };
    let recount = |store: &Store<&mut [u8]>| {
        let mut c = Counts::default();
        for e in store.iter() {
            c.add(e.kind, e.flags, true);
        }
        c
    };
    let kinds = [
        Kind::AwaitPuback,
        Kind::AwaitPubrec,
        Kind::AwaitSuback,
        Kind::AwaitPubcomp,
    ];
    for n in 1..=12u16 {
        let kind = kinds[usize::from(n) % kinds.len()];
        let flags = [0, UNSENT, LOST, UNSENT | LOST][usize::from(n) % 4];
        assert!(store.push(kind, flags, pid(n), &[]));
        assert_eq!(store.counts(), recount(&store));
    }
    for n in (1..=12u16).step_by(3) {
        let e = store.iter().find(|e| e.pid == pid(n)).unwrap();
        store.set_flags(&e, e.flags ^ (UNSENT | LOST));
        assert_eq!(store.counts(), recount(&store));
    }
    for n in (2..=12u16).step_by(2) {
        let e = store.iter().find(|e| e.pid == pid(n)).unwrap();
        store.remove(&e);
        assert_eq!(store.counts(), recount(&store));
    }
    assert_eq!(
        store.counts().publishes,
        6,
        "the odd ids are publishes (QoS 2 and PUBRELs), none removed"
    );
}

/// The broker's QoS 2 ids: the table's slots first, each found and released whatever the
/// log holds; past them, entries of the log; the counts following both; a new session frees
/// all; with no room in either, refused.
#[test]
fn the_inbound_table_holds_its_slots_and_the_log_the_ids_past_them() {
    let mut buf = [0u8; 36];
    let Some(mut store) = Store::new(&mut buf[..], 4, 3, |_| true) else {
        panic!("room for the table");
    };
    assert!(store.push(Kind::AwaitPuback, 0, pid(7), &[1, 2, 3]));
    for n in [7, 300, 65535] {
        assert!(!store.held(pid(n)));
        assert!(store.hold(pid(n)), "slot for {n}");
        assert!(store.held(pid(n)));
    }
    assert_eq!(
        store.iter().count(),
        1,
        "three ids, three slots: the log untouched"
    );
    assert!(store.hold(pid(8)), "a fourth id goes to the log");
    assert!(store.held(pid(8)));
    let logged = store
        .iter()
        .find(|e| e.kind == Kind::Inbound)
        .map(|e| e.pid);
    assert_eq!(logged, Some(pid(8)));
    assert!(
        !store.hold(pid(9)),
        "no room left in the log (36 - 4 - 6 - 11 - 8 = 7 bytes)"
    );
    assert_eq!((store.inbound(), store.counts().inbound), (4, 1));
    store.release(pid(300));
    store.release(pid(300)); // a PUBREL for an id not held changes nothing
    assert_eq!((store.inbound(), store.counts().inbound), (3, 1));
    assert!(!store.held(pid(300)) && store.held(pid(7)) && store.held(pid(65535)));
    assert_eq!(store.held_ids(), [0, 7, 0xFF, 0xFF], "the last id moved up");
    store.release(pid(8));
    assert_eq!((store.inbound(), store.counts().inbound), (2, 0));
    assert_eq!(store.iter().count(), 1, "the logged id removed");
    assert!(store.hold(pid(9)), "the freed slot is used again");
    assert_eq!(
        store.find(pid(7), Kinds::OURS).map(|e| e.kind),
        Some(Kind::AwaitPuback),
        "our id 7 and the broker's id 7 are apart"
    );
    assert!(store.hold(pid(10)));
    store.release_all();
    assert_eq!((store.inbound(), store.counts().inbound), (0, 0));
    assert!(!store.held(pid(7)) && !store.held(pid(9)) && !store.held(pid(10)));
    assert_eq!(store.iter().count(), 1, "only our entry is left");
}

/// The store against a plain list under random pushes, removals (mostly the oldest, as
/// in-order acknowledgements do, some from the middle), re-flagging and writing out: the
/// same entries in the same order, every free byte usable (the log moves back to the
/// front when the end is reached), and no unsent entry before `first_unsent`.
#[test]
fn a_log_that_moves_its_start_matches_a_list_and_finds_every_unsent_entry() {
    let mut buf = [0u8; 300];
    let Some(mut store) = Store::new(&mut buf[..], 5, 0, |_| true) else {
        panic!("a 5-byte prefix");
    };
    let mut model: Vec<(u16, u8, Vec<u8>)> = Vec::new(); // pid, flags, body
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut pids = 1u16;
    let (mut compactions_seen, mut last_first) = (0, store.first());
    for _ in 0..20_000 {
        match next() % 10 {
            0..=3 => {
                let body = vec![pids as u8; (next() % 40) as usize];
                let flags = if next() % 2 == 0 { UNSENT } else { 0 };
                let used: usize = model.iter().map(|(_, _, b)| b.len() + ENTRY_OVERHEAD).sum();
                let fits = used + ENTRY_OVERHEAD + body.len() <= 295;
                assert_eq!(store.free(), 295 - used);
                assert_eq!(store.push(Kind::AwaitPuback, flags, pid(pids), &body), fits);
                if fits {
                    model.push((pids, flags, body));
                }
                pids = pids % 60_000 + 1;
            }
            4..=6 if !model.is_empty() => {
                let e = store.entry_at(store.first()).unwrap();
                store.remove(&e);
                model.remove(0);
            }
            7 if !model.is_empty() => {
                let i = (next() as usize) % model.len();
                let e = store.iter().nth(i).unwrap();
                store.remove(&e);
                model.remove(i);
            }
            8 if !model.is_empty() => {
                let i = (next() as usize) % model.len();
                let e = store.iter().nth(i).unwrap();
                store.set_flags(&e, UNSENT);
                model[i].1 = UNSENT;
            }
            _ => {
                // Write out up to three unsent entries, as fill_tx does.
                let mut offset = store.first_unsent();
                let mut budget = 3;
                while let Some(e) = store.entry_at(offset) {
                    if e.flags & UNSENT != 0 {
                        if budget == 0 {
                            break;
                        }
                        budget -= 1;
                        store.set_flags(&e, 0);
                        let m = model.iter_mut().find(|m| m.0 == e.pid.get()).unwrap();
                        m.1 = 0;
                    }
                    offset = e.end();
                }
                store.sent_up_to(offset);
            }
        }
        if store.first() < last_first {
            compactions_seen += 1;
        }
        last_first = store.first();
        let got: Vec<(u16, u8, Vec<u8>)> = store
            .iter()
            .map(|e| (e.pid.get(), e.flags, store.body(&e).to_vec()))
            .collect();
        assert_eq!(got, model);
        assert!(
            store
                .iter()
                .all(|e| e.flags & UNSENT == 0 || e.offset >= store.first_unsent()),
            "an unsent entry before first_unsent"
        );
        assert_eq!(
            store.counts().unsent,
            model.iter().filter(|m| m.1 & UNSENT != 0).count()
        );
    }
    assert!(
        compactions_seen > 100,
        "the log moved back {compactions_seen} times"
    );
}
