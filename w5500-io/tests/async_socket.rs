//! The async W5500 socket over the emulator: polling and interrupt mode move the same bytes
//! across pointer wrap-around; an idle socket in interrupt mode makes no SPI traffic; reads
//! and writes cancelled at any await lose and duplicate nothing (the async driver races its
//! reads against the keep-alive timer).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use embedded_hal_async::digital::Wait;
use embedded_io_async::{Read, Write};
use w5500_io::emulator::{Emulator, IntPin};
use w5500_io::{AsyncTcpSocket, AsyncW5500, NoPin, Timeouts, W5500Error};

mod support;
use support::{CONFIG, ip_port, pattern};

/// embedded-hal-async's delay on tokio's timer.
#[derive(Debug, Clone, Copy)]
struct TokioDelay;

impl embedded_hal_async::delay::DelayNs for TokioDelay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(Duration::from_nanos(u64::from(ns))).await;
    }
}

async fn chip(emu: &Emulator) -> AsyncW5500<Emulator> {
    let mut chip = AsyncW5500::new(emu.clone());
    chip.init(&CONFIG, &mut TokioDelay).await.unwrap();
    chip
}

async fn polling(emu: &Emulator) -> AsyncTcpSocket<Emulator, TokioDelay, NoPin> {
    AsyncTcpSocket::new(chip(emu).await, 0, TokioDelay, Timeouts::default()).unwrap()
}

async fn interrupt(emu: &Emulator) -> AsyncTcpSocket<Emulator, TokioDelay, IntPin> {
    polling(emu).await.with_interrupt(emu.int_pin())
}

/// Connects `s` to a new local listener and accepts: (the peer's end).
async fn connect<P: Wait>(s: &mut AsyncTcpSocket<Emulator, TokioDelay, P>) -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (ip, port) = ip_port(listener.local_addr().unwrap());
    s.connect(ip, port).await.unwrap();
    listener.accept().unwrap().0
}

/// 256 KiB out and back through an echo peer in 1,500-byte pieces (the 2 KiB chip buffers
/// and the 16-bit pointers wrap many times).
async fn echo<P: Wait>(mut s: AsyncTcpSocket<Emulator, TokioDelay, P>) {
    let mut peer = connect(&mut s).await;
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match peer.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => peer.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let data = pattern(7, 256 * 1024);
    for piece in data.chunks(1_500) {
        s.write_all(piece).await.unwrap();
        s.flush().await.unwrap();
        let mut back = vec![0u8; piece.len()];
        s.read_exact(&mut back).await.unwrap();
        assert_eq!(back, piece);
    }
    s.disconnect().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn echo_by_polling() {
    let emu = Emulator::new();
    echo(polling(&emu).await).await;
}

#[tokio::test(flavor = "current_thread")]
async fn echo_by_interrupt() {
    let emu = Emulator::new();
    echo(interrupt(&emu).await).await;
}

/// SPI transactions made while a read waits 500 ms for data that does not come.
async fn idle_transactions<P: Wait>(
    emu: &Emulator,
    s: &mut AsyncTcpSocket<Emulator, TokioDelay, P>,
) -> u64 {
    let before = emu.transactions();
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "no data was sent: the read must still wait"
    );
    emu.transactions() - before
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_socket_makes_no_spi_traffic_with_the_interrupt() {
    let emu = Emulator::new();
    let mut s = polling(&emu).await;
    let _peer = connect(&mut s).await;
    let by_polling = idle_transactions(&emu, &mut s).await;

    let emu = Emulator::new();
    let mut s = interrupt(&emu).await;
    let mut peer = connect(&mut s).await;
    let by_interrupt = idle_transactions(&emu, &mut s).await;
    println!("SPI transactions in 500 ms idle: polling {by_polling}, interrupt {by_interrupt}");
    assert!(
        by_polling >= 300,
        "polling looks every 100 µs: {by_polling}"
    );
    assert!(by_interrupt <= 8, "INTn stayed high: {by_interrupt}");

    // The interrupt wakes the read well before the guard (1 s) would.
    let t = Instant::now();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        peer.write_all(b"wake").unwrap();
        peer
    });
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"wake");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    let _peer = sender.join().unwrap();
}

/// Polls `fut` at most `polls` + 1 times, each when it asks to be: its output, or `None` when it was dropped still
/// pending — a cancellation at one of its awaits (the emulator's SPI transactions yield
/// before and after they happen, so every transaction boundary is such a point).
async fn cancel_after<F: std::future::Future>(polls: u32, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut left = polls;
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        std::task::Poll::Ready(out) => std::task::Poll::Ready(Some(out)),
        std::task::Poll::Pending if left == 0 => std::task::Poll::Ready(None),
        std::task::Poll::Pending => {
            // Polled again when the future's own wake-up comes (a yield, a timer, INTn).
            left -= 1;
            std::task::Poll::Pending
        }
    })
    .await
}

/// A small pseudo-random generator (deterministic runs).
struct Lcg(u32);

impl Lcg {
    fn below(&mut self, n: u32) -> u32 {
        self.0 = self.0.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (self.0 >> 8) % n
    }
}

/// Reads cancelled at random points while the peer trickles 128 KiB: every byte arrives
/// once, in order.
async fn cancelled_reads<P: Wait>(mut s: AsyncTcpSocket<Emulator, TokioDelay, P>) {
    let mut peer = connect(&mut s).await;
    let data = pattern(9, 128 * 1024);
    let sent = data.clone();
    std::thread::spawn(move || {
        for piece in sent.chunks(3_000) {
            peer.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_micros(300));
        }
    });
    let mut got = Vec::new();
    let (mut rng, mut cancelled) = (Lcg(1), 0);
    while got.len() < data.len() {
        let mut buf = vec![0u8; 1 + rng.below(700) as usize];
        match cancel_after(rng.below(40), s.read(&mut buf)).await {
            Some(n) => got.extend_from_slice(&buf[..n.unwrap()]),
            None => cancelled += 1,
        }
        assert!(cancelled < 1_000_000, "no progress: {} bytes", got.len());
    }
    println!("{cancelled} reads cancelled");
    assert!(cancelled > 10, "the test must cancel reads: {cancelled}");
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes lost or repeated across cancelled reads");
}

#[tokio::test(flavor = "current_thread")]
async fn cancelled_reads_lose_nothing_polling() {
    let emu = Emulator::new();
    cancelled_reads(polling(&emu).await).await;
}

#[tokio::test(flavor = "current_thread")]
async fn cancelled_reads_lose_nothing_interrupt() {
    let emu = Emulator::new();
    cancelled_reads(interrupt(&emu).await).await;
}

/// One run of writes cancelled at random awaits: what the peer got, and whether the
/// writer finished (or met the one unsafe point, ending in WriteTimeout).
async fn cancelled_writes(seed: u32) -> (Vec<u8>, Vec<u8>, bool) {
    let emu = Emulator::new();
    let timeouts = Timeouts {
        write_ms: 200,
        ..Timeouts::default()
    };
    let chip = chip(&emu).await;
    let mut s = AsyncTcpSocket::new(chip, 0, TokioDelay, timeouts)
        .unwrap()
        .with_interrupt(emu.int_pin());
    let mut peer = connect(&mut s).await;
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let _ = peer.read_to_end(&mut got);
        got
    });
    let data = pattern(seed, 32 * 1024);
    let (mut at, mut rng) = (0, Lcg(seed));
    let mut finished = true;
    while at < data.len() {
        let end = (at + 1 + rng.below(3_000) as usize).min(data.len());
        match cancel_after(rng.below(80), s.write(&data[at..end])).await {
            Some(Ok(n)) => at += n,
            Some(Err(e)) => {
                assert_eq!(e, W5500Error::WriteTimeout, "the only failure allowed");
                finished = false;
                break;
            }
            None => {}
        }
    }
    if finished {
        finished = s.flush().await.is_ok();
    }
    let _ = s.close().await;
    (data, reader.join().unwrap(), finished)
}

#[tokio::test(flavor = "current_thread")]
async fn cancelled_writes_never_send_a_byte_twice() {
    let (mut clean, mut timed_out) = (0, 0);
    for seed in 1..=6 {
        let (data, got, finished) = cancelled_writes(seed).await;
        assert!(
            data.starts_with(&got),
            "seed {seed}: the peer got bytes out of order or twice ({} bytes)",
            got.len()
        );
        if finished {
            assert_eq!(got.len(), data.len(), "seed {seed}: flushed but incomplete");
            clean += 1;
        } else {
            timed_out += 1;
        }
    }
    println!("cancelled writes: {clean} runs complete, {timed_out} ended in WriteTimeout");
    assert!(clean >= 1, "no run completed: the test shows nothing");
}

#[tokio::test(flavor = "current_thread")]
async fn a_socket_holding_intn_low_makes_another_poll_not_spin_until_it_closes() {
    let emu = Emulator::new();
    let mut quiet = interrupt(&emu).await;
    let _quiet_peer = connect(&mut quiet).await;
    // Socket 1 on the same chip and pin: its peer sends, nobody reads, INTn stays low.
    let mut busy = AsyncTcpSocket::new(
        AsyncW5500::new(emu.clone()),
        1,
        TokioDelay,
        Timeouts::default(),
    )
    .unwrap()
    .with_interrupt(emu.int_pin());
    let mut busy_peer = connect(&mut busy).await;
    busy_peer.write_all(b"unread").unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let shared = idle_transactions(&emu, &mut quiet).await;
    // Closing socket 1 clears its interrupts and its SIMR bit: the pin is quiet again.
    busy.close().await.unwrap();
    let alone = idle_transactions(&emu, &mut quiet).await;
    println!(
        "SPI transactions in 500 ms idle: INTn held by another socket {shared}, alone {alone}"
    );
    assert!(
        shared < 20_000,
        "spinning on a pin another socket holds: {shared}"
    );
    assert!(alone <= 8, "the closed socket still holds INTn: {alone}");
}
