//! The W5500 driver over the W5500 emulator: bring-up, bounded waits, end of stream,
//! back-pressure, pointer wrap-around, SPI framing. (MQTT through it: the umqtt crate's
//! `tests/w5500.rs`.)

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use embedded_io::{Read, ReadReady, Write};
use w5500_io::emulator::Emulator;
use w5500_io::regs::{COMMON, IR_DISCON, SIPR, SN_IR, SN_TXBUF_SIZE, SR_CLOSE_WAIT, socket_regs};
use w5500_io::{TcpSocket, Timeouts, W5500, W5500Error};

mod support;
use support::{CONFIG, StdDelay, ip_port, pattern};

type Socket = TcpSocket<Emulator, StdDelay>;

fn chip(emu: &Emulator) -> W5500<Emulator> {
    let mut chip = W5500::new(emu.clone());
    chip.init(&CONFIG, &mut StdDelay).unwrap();
    chip
}

fn socket(emu: &Emulator, timeouts: Timeouts) -> Socket {
    TcpSocket::new(chip(emu), 0, StdDelay, timeouts).unwrap()
}

/// A local TCP listener and socket 0 of `emu` connected to it (the peer is still to accept).
fn connected(emu: &Emulator, timeouts: Timeouts) -> (Socket, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (ip, port) = ip_port(listener.local_addr().unwrap());
    let mut s = socket(emu, timeouts);
    s.connect(ip, port).unwrap();
    (s, listener)
}

#[test]
fn bring_up_checks_the_version_and_writes_the_addresses() {
    let emu = Emulator::new();
    let mut c = chip(&emu);
    let mut ip = [0u8; 4];
    c.read(COMMON, SIPR, &mut ip).unwrap();
    assert_eq!(ip, CONFIG.ip);
    assert!(c.link_up().unwrap());

    emu.set_version(0xFF);
    let e = W5500::new(emu.clone())
        .init(&CONFIG, &mut StdDelay)
        .unwrap_err();
    assert_eq!(e, W5500Error::Version(0xFF));
}

#[test]
fn link_down_is_an_error_after_a_bounded_wait() {
    let emu = Emulator::new();
    let mut c = chip(&emu);
    emu.set_link(false);
    let t = Instant::now();
    assert_eq!(c.wait_link(&mut StdDelay, 50), Err(W5500Error::LinkDown));
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn invalid_socket_number_and_buffer_size_are_rejected() {
    let emu = Emulator::new();
    assert!(matches!(
        TcpSocket::new(chip(&emu), 8, StdDelay, Timeouts::default()),
        Err(W5500Error::InvalidArgument)
    ));
    assert_eq!(
        chip(&emu).set_buffer_kib(0, 3, 2),
        Err(W5500Error::InvalidArgument)
    );
}

#[test]
fn the_sockets_share_16_kib_each_way() {
    let emu = Emulator::new();
    let mut c = chip(&emu);
    // Out of reset every socket has 2 KiB: 16 in all. Growing one first is refused…
    assert_eq!(c.set_buffer_kib(0, 16, 2), Err(W5500Error::InvalidArgument));
    assert_eq!(c.set_buffer_kib(0, 2, 4), Err(W5500Error::InvalidArgument));
    // …shrinking the others first makes room: all 16 KiB to socket 0.
    for n in 1..8 {
        c.set_buffer_kib(n, 0, 0).unwrap();
    }
    c.set_buffer_kib(0, 16, 16).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (ip, port) = ip_port(listener.local_addr().unwrap());
    let mut s = TcpSocket::new(c, 0, StdDelay, Timeouts::default()).unwrap();
    s.connect(ip, port).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let data = pattern(16, 16 * 1024);
    peer.write_all(&data).unwrap();
    let mut got = vec![0u8; data.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, data, "16 KiB through one socket's 16 KiB buffer");

    // Past the driver's check (a raw register write), the chip has no memory for socket 1:
    // its OPEN fails, so does its connect.
    let (mut c, _) = s.into_parts();
    c.write_u8(socket_regs(1), SN_TXBUF_SIZE, 2).unwrap();
    let mut s1 = TcpSocket::new(c, 1, StdDelay, Timeouts::default()).unwrap();
    assert_eq!(s1.connect(ip, port), Err(W5500Error::ConnectFailed));
}

#[test]
fn a_refused_connect_is_an_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = socket(&Emulator::new(), Timeouts::default());
    let t = Instant::now();
    assert_eq!(
        s.connect([127, 0, 0, 1], port),
        Err(W5500Error::ConnectFailed)
    );
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_connect_that_is_never_answered_times_out() {
    let timeouts = Timeouts {
        connect_ms: 300,
        ..Timeouts::default()
    };
    let mut s = socket(&Emulator::new(), timeouts);
    let t = Instant::now();
    assert_eq!(
        s.connect([192, 0, 2, 1], 1883),
        Err(W5500Error::ConnectTimeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_read_with_no_data_times_out_as_timed_out() {
    let (mut s, listener) = connected(&Emulator::new(), Timeouts::default());
    let _peer = listener.accept().unwrap();
    let mut buf = [0u8; 16];
    assert!(!s.read_ready().unwrap());
    let e = s.read(&mut buf).unwrap_err();
    assert_eq!(e, W5500Error::ReadTimeout);
    assert_eq!(
        embedded_io::Error::kind(&e),
        embedded_io::ErrorKind::TimedOut
    );
}

/// The peer sends 40 KiB and closes: the 2 KiB RX buffer fills again and again (back-pressure,
/// nothing dropped), every byte arrives, then end of stream (CLOSE_WAIT and the DISCON
/// interrupt, as on the chip).
#[test]
fn peer_close_is_end_of_stream_after_all_its_data() {
    let emu = Emulator::new();
    let (mut s, listener) = connected(&emu, Timeouts::default());
    let sent = pattern(7, 40 * 1024);
    let (mut peer, _) = listener.accept().unwrap();
    peer.write_all(&sent).unwrap();
    drop(peer);
    // Let the host socket fill up before reading anything.
    std::thread::sleep(Duration::from_millis(100));
    let mut got = Vec::new();
    let mut buf = [0u8; 1500];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(W5500Error::ReadTimeout) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "bytes differ");
    assert_eq!(s.status().unwrap(), SR_CLOSE_WAIT);
    let ir = s.chip().read_u8(socket_regs(0), SN_IR).unwrap();
    assert_ne!(ir & IR_DISCON, 0, "DISCON interrupt not raised");
    assert!(emu.stats(0).rx_full > 0, "the RX buffer never filled");
    s.disconnect().unwrap();
}

/// Our FIN (DISCON) comes after every byte written before it, however soon it follows the
/// last write: a peer reads all the data, then end of stream.
#[test]
fn data_written_right_before_disconnect_reaches_the_peer_before_the_fin() {
    for round in 0..20u32 {
        let emu = Emulator::new();
        let (mut s, listener) = connected(&emu, Timeouts::default());
        let (mut peer, _) = listener.accept().unwrap();
        // The peer reads to our FIN, then closes its side (so our DISCON completes).
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).unwrap();
            got
        });
        let sent = pattern(round + 100, 6 * 1024);
        for chunk in sent.chunks(1_000) {
            s.write_all(chunk).unwrap();
        }
        s.disconnect().unwrap();
        let got = reader.join().unwrap();
        assert_eq!(
            got.len(),
            sent.len(),
            "round {round}: bytes lost before the FIN"
        );
        assert!(got == sent, "round {round}: bytes differ");
    }
}

/// 320 KiB through a TCP echo server: the 16-bit pointers wrap several times each way.
#[test]
fn echo_across_pointer_wrap_around() {
    let emu = Emulator::new();
    let (mut s, listener) = connected(&emu, Timeouts::default());
    std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match peer.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if peer.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let sent = pattern(11, 320 * 1024);
    let mut got = Vec::with_capacity(sent.len());
    let mut at = 0;
    let mut buf = [0u8; 3000];
    while got.len() < sent.len() {
        if at < sent.len() {
            let end = (at + 1000).min(sent.len());
            at += s.write(&sent[at..end]).unwrap();
        }
        while got.len() < at && s.read_ready().unwrap() {
            let n = s.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        if at == sent.len() && got.len() < sent.len() {
            let n = s.read(&mut buf).unwrap_or(0);
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert!(got == sent, "echoed bytes differ");
    let stats = emu.stats(0);
    assert!(stats.tx_wraps >= 4 && stats.rx_wraps >= 4, "{stats:?}");
    s.disconnect().unwrap();
}

/// A send into a connection the network cut is an error, not a hang.
#[test]
fn writes_after_a_cut_fail() {
    let emu = Emulator::new();
    let (mut s, listener) = connected(&emu, Timeouts::default());
    let _peer: TcpStream = listener.accept().unwrap().0;
    emu.cut(0);
    assert_eq!(s.write(b"hello"), Err(W5500Error::Closed));
    assert_eq!(s.read(&mut [0u8; 4]), Err(W5500Error::Closed));
}

/// The emulator takes a transaction's operations as one byte stream, whatever their kind or
/// split: the header may span operations, and Transfer / TransferInPlace work like on a bus.
#[test]
fn spi_frames_are_one_byte_stream_across_operations() {
    use embedded_hal::spi::{Operation, SpiDevice};
    use w5500_io::regs::{GAR, VERSIONR, control};
    let mut emu = Emulator::new();
    // VERSIONR with the header split over two writes, read back through TransferInPlace.
    let [hi, lo] = VERSIONR.to_be_bytes();
    let mut data = [0xAAu8; 1];
    emu.transaction(&mut [
        Operation::Write(&[hi]),
        Operation::Write(&[lo, control(COMMON, false)]),
        Operation::TransferInPlace(&mut data),
    ])
    .unwrap();
    assert_eq!(data, [0x04]);
    // A write of GAR through Transfer (MISO ignored), then a full-duplex read of it.
    let [hi, lo] = GAR.to_be_bytes();
    let mut miso = [0u8; 7];
    emu.transaction(&mut [Operation::Transfer(
        &mut miso,
        &[hi, lo, control(COMMON, true), 10, 0, 0, 1],
    )])
    .unwrap();
    let mut got = [0u8; 7];
    emu.transaction(&mut [Operation::Transfer(
        &mut got,
        &[hi, lo, control(COMMON, false), 0, 0, 0, 0],
    )])
    .unwrap();
    assert_eq!(got[3..], [10, 0, 0, 1]);
}
