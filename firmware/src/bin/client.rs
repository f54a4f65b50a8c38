//! The blocking client on a Cortex-M4, exercised end to end against a scripted in-memory
//! broker: CONNECT, SUBSCRIBE, PUBLISH at QoS 0, 1 and 2, a cut connection, a resumed
//! session (PUBREL resent, PUBCOMP), an inbound QoS 2 message, a keep-alive PINGREQ, and
//! DISCONNECT. It runs under QEMU (`qemu-system-arm -M netduinoplus2 -semihosting`), prints
//! the stack high-water mark measured by stack painting, and exits 0 when every step went
//! as scripted.
//!
//! The panic handler calls a function that does not exist: if any panic path survives
//! optimisation, this binary does not link. Building it in release is the proof that the
//! codec and the blocking client cannot panic (the script and the report are panic-free too).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
// The device's interrupt vectors (STM32F4; QEMU's netduinoplus2 is an STM32F405).
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use cortex_m_semihosting::hio;
use stm32f4xx_hal as _;
use umqtt::{Blocking, Client, ConnectOptions, Event, QoS};
use umqtt_firmware::script::{self, ScriptIo, Step};

/// The first connection: CONNACK, SUBACK, PUBACK for the QoS 1 message, PUBREC for the
/// QoS 2 one, then the network cuts the connection after the client's PUBREL.
static FIRST: [Step; 5] = [
    Step::Send(1, &[0x20, 0x02, 0x00, 0x00]),
    Step::Send(2, &[0x90, 0x03, 0x00, 0x01, 0x02]),
    Step::Send(4, &[0x40, 0x02, 0x00, 0x02]),
    Step::Send(5, &[0x50, 0x02, 0x00, 0x03]),
    Step::Cut(6),
];

/// The second: CONNACK with session present; after the resent PUBREL, PUBCOMP and an
/// inbound QoS 2 PUBLISH (id 7); PUBREL 7 after the client's PUBREC; PINGRESP after its
/// PINGREQ, then a QoS 0 message.
static SECOND: [Step; 5] = [
    Step::Send(1, &[0x20, 0x02, 0x01, 0x00]),
    Step::Send(
        2,
        &[
            0x70, 0x02, 0x00, 0x03, 0x34, 0x0B, 0x00, 0x05, b'f', b'w', b'/', b'i', b'n', 0x00,
            0x07, b'o', b'n',
        ],
    ),
    Step::Send(3, &[0x62, 0x02, 0x00, 0x07]),
    Step::Send(5, &[0xD0, 0x00]),
    Step::Send(
        5,
        &[
            0x30, 0x0A, 0x00, 0x05, b'f', b'w', b'/', b'i', b'n', b'o', b'f', b'f',
        ],
    ),
];

/// The client packets expected on the second connection: CONNECT, PUBREL 3, PUBREC 7,
/// PUBCOMP 7, PINGREQ, DISCONNECT.
const SECOND_KINDS: [u8; 6] = [0x10, 0x62, 0x50, 0x70, 0xC0, 0xE0];

const PAINT: u32 = 0x5AFE_C0DE;

/// Fills the free stack below the current frame with a pattern.
#[inline(never)]
fn paint_stack() {
    let (bottom, sp) = stack_bounds();
    let mut at = bottom;
    while at + 64 < sp {
        // SAFETY: [bottom, sp - 64) is unused stack memory between the end of the static
        // data (`_stack_end`, from cortex-m-rt's linker script) and this function's frame.
        unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// Bytes of stack used so far: from the top down to the lowest word no longer painted.
fn stack_high_water() -> usize {
    let (bottom, _) = stack_bounds();
    let top = stack_top();
    let mut at = bottom;
    // SAFETY: reads words of the stack region painted above.
    while at < top && unsafe { core::ptr::read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    top - at
}

fn stack_bounds() -> (usize, usize) {
    unsafe extern "C" {
        static _stack_end: u32;
    }
    let bottom = (&raw const _stack_end) as usize;
    (bottom, cortex_m::register::msp::read() as usize)
}

fn stack_top() -> usize {
    unsafe extern "C" {
        static _stack_start: u32;
    }
    (&raw const _stack_start) as usize
}

/// Writes `text` and `n` in decimal to the host's stdout.
fn report(text: &str, n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(text.as_bytes());
        let _ = out.write_all(digits.get(i..).unwrap_or_default());
        let _ = out.write_all(b"\n");
    }
}

/// The handler for events that arrive while an operation waits: this script has none.
type Handler = fn(Event<'_>);

fn ignore(_: Event<'_>) {}

/// Runs the script; the number of the first step that went wrong, or 0.
#[inline(never)]
fn exercise() -> usize {
    // The session's memory, in .bss (each singleton is taken once, so always Some).
    let (Some(rx), Some(tx), Some(store)) = (
        cortex_m::singleton!(: [u8; 256] = [0; 256]),
        cortex_m::singleton!(: [u8; 256] = [0; 256]),
        cortex_m::singleton!(: [u8; 256] = [0; 256]),
    ) else {
        return 1;
    };
    let Ok(options) = ConnectOptions::new("fw-client") else {
        return 1;
    };
    let options = options.keep_alive_secs(1).clean_session(false);
    let Ok(client) = Client::new(options, rx, tx, store) else {
        return 2;
    };
    let mut m = Blocking::new(
        client,
        ScriptIo::new(&FIRST),
        script::now_ms,
        ignore as Handler,
    );
    if !matches!(m.connect(), Ok(false)) {
        return 3;
    }
    if m.subscribe("fw/in", QoS::ExactlyOnce).is_err() {
        return 4;
    }
    if !matches!(m.next_event(), Ok(Event::Subscribed { .. })) {
        return 5;
    }
    let sent = [
        m.publish("fw/out", b"q0", QoS::AtMostOnce, false),
        m.publish("fw/out", b"q1", QoS::AtLeastOnce, false),
        m.publish("fw/out", b"q2", QoS::ExactlyOnce, false),
    ];
    if sent.iter().any(Result::is_err) {
        return 6;
    }
    if !matches!(
        m.next_event(),
        Ok(Event::Published {
            qos: QoS::AtLeastOnce,
            ..
        })
    ) {
        return 7;
    }
    // The PUBREC comes, the PUBREL goes out, and the network cuts the connection.
    if m.next_event().is_ok() {
        return 8;
    }
    m.replace_transport(ScriptIo::new(&SECOND));
    if !matches!(m.connect(), Ok(true)) {
        return 9;
    }
    if !matches!(
        m.next_event(),
        Ok(Event::Published {
            qos: QoS::ExactlyOnce,
            ..
        })
    ) {
        return 10;
    }
    match m.next_event() {
        Ok(Event::Message(msg)) if msg.payload == b"on" && msg.topic.as_str() == "fw/in" => {}
        _ => return 11,
    }
    // Idle: the keep-alive PINGREQ goes out after a second of virtual time; the message
    // after its PINGRESP ends the wait.
    match m.next_event() {
        Ok(Event::Message(msg)) if msg.payload == b"off" => {}
        _ => return 12,
    }
    if m.disconnect().is_err() {
        return 13;
    }
    let (_, io, _, _) = m.into_parts();
    if io.packets() != SECOND_KINDS.len() as u8 {
        return 14;
    }
    for (i, kind) in SECOND_KINDS.iter().enumerate() {
        if io.kind(i as u8) != *kind {
            return 15 + i;
        }
    }
    0
}

#[entry]
fn main() -> ! {
    paint_stack();
    let failed = exercise();
    report("stack high-water (bytes): ", stack_high_water());
    report(
        "size_of Client: ",
        core::mem::size_of::<Client<&'static mut [u8; 256]>>(),
    );
    report(
        "size_of Blocking (client, transport, clock, handler): ",
        core::mem::size_of::<Blocking<&'static mut [u8; 256], ScriptIo, fn() -> u64, Handler>>(),
    );
    report(
        "size_of ConnectOptions: ",
        core::mem::size_of::<ConnectOptions<'static>>(),
    );
    report("size_of Event: ", core::mem::size_of::<Event<'static>>());
    report("failed step (0 = none): ", failed);
    debug::exit(if failed == 0 {
        EXIT_SUCCESS
    } else {
        EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}
