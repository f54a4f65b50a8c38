//! Interop with other clients through mosquitto: umqtt publishes and `mosquitto_sub` and
//! paho-mqtt (Python) receive exactly the bytes sent; they publish and umqtt receives exactly
//! the bytes sent. Needs mosquitto, mosquitto-clients and python3-paho-mqtt (required in
//! CI; skipped with a message elsewhere when missing).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::broker::*;
use umqtt::ConnectOptions;
use umqtt::packet::QoS;

fn tool(name: &str) -> Option<PathBuf> {
    let found = find_program(name);
    assert!(
        found.is_some() || !mosquitto_required(),
        "{name} is required in CI but not installed"
    );
    if found.is_none() {
        eprintln!("skipped: {name} not installed");
    }
    found
}

/// Debian's python3 with paho-mqtt (not a pyenv one without it).
fn paho_python() -> Option<PathBuf> {
    let py = ["/usr/bin/python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| find_program("python3"))?;
    let ok = Command::new(&py)
        .args(["-c", "import paho.mqtt.client"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || !mosquitto_required(),
        "python3-paho-mqtt is required in CI but not importable"
    );
    if !ok {
        eprintln!("skipped: paho-mqtt not importable");
    }
    ok.then_some(py)
}

/// Binary payloads that include NUL, newlines and every byte value.
fn payloads() -> Vec<Vec<u8>> {
    vec![
        (0..=255u8).collect(),
        b"line one\nline two\r\n\0end".to_vec(),
        vec![0xFF; 3000],
        Vec::new(),
    ]
}

fn opts(id: &str) -> ConnectOptions<'_> {
    ConnectOptions::new(id).unwrap()
}

#[test]
fn umqtt_publishes_and_mosquitto_sub_receives_the_exact_bytes() {
    let (Some(b), Some(sub)) = (Broker::mosquitto(None), tool("mosquitto_sub")) else {
        return;
    };
    let port = b.addr().port().to_string();
    let base = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-t",
        "interop/ms",
        "-q",
        "2",
        "-c",
        "-i",
        "ms-sub",
    ];
    // Register a persistent subscription (-E: exit once subscribed), so nothing races.
    assert!(
        Command::new(&sub)
            .args(base)
            .arg("-E")
            .status()
            .unwrap()
            .success()
    );
    let (mut c, _) = Conn::connect(b.addr(), opts("umqtt-pub-ms"), 8192).unwrap();
    let sent = payloads();
    for (i, p) in sent.iter().enumerate() {
        let qos = [QoS::AtLeastOnce, QoS::ExactlyOnce][i % 2];
        c.publish("interop/ms", p, qos, false).unwrap();
    }
    let out = Command::new(&sub)
        .args(base)
        .args(["-C", &sent.len().to_string(), "-W", "10", "-F", "%q %x"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mosquitto_sub: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    let mut want: Vec<String> = sent
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{} {}", 1 + i % 2, hex(p)).trim_end().to_string())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "mosquitto_sub received different bytes");
    c.disconnect().unwrap();
}

#[test]
fn mosquitto_pub_publishes_and_umqtt_receives_the_exact_bytes() {
    let (Some(b), Some(publ)) = (Broker::mosquitto(None), tool("mosquitto_pub")) else {
        return;
    };
    let (mut c, _) = Conn::connect(b.addr(), opts("umqtt-sub-mp"), 8192).unwrap();
    c.subscribe("interop/mp", QoS::ExactlyOnce).unwrap();
    let port = b.addr().port().to_string();
    for (i, p) in payloads().iter().enumerate() {
        let file = std::env::temp_dir().join(format!("umqtt-interop-{}-{i}", std::process::id()));
        std::fs::write(&file, p).unwrap();
        let qos = ["0", "1", "2"][i % 3];
        let mut cmd = Command::new(&publ);
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "interop/mp",
            "-q",
            qos,
        ]);
        if p.is_empty() {
            cmd.arg("-n")
        } else {
            cmd.arg("-f").arg(&file)
        };
        assert!(cmd.status().unwrap().success());
        let m = c.recv(WAIT).unwrap().expect("message from mosquitto_pub");
        assert!(m.payload == *p, "payload {i} differs");
        let _ = std::fs::remove_file(file);
    }
    c.disconnect().unwrap();
}

const PAHO_SUB: &str = r#"
import sys, binascii
import paho.mqtt.client as mqtt
port, count = int(sys.argv[1]), int(sys.argv[2])
got = []
def on_connect(c, u, f, rc): c.subscribe("interop/paho", qos=2)
def on_subscribe(c, u, mid, q): print("READY", flush=True)
def on_message(c, u, m):
    print(binascii.hexlify(m.payload).decode(), m.qos, flush=True)
    got.append(m)
    if len(got) == count: c.disconnect()
c = mqtt.Client(client_id="paho-sub")
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
c.connect("127.0.0.1", port)
c.loop_forever()
"#;

const PAHO_PUB: &str = r#"
import sys, binascii
import paho.mqtt.client as mqtt
port = int(sys.argv[1])
c = mqtt.Client(client_id="paho-pub")
c.connect("127.0.0.1", port)
c.loop_start()
for i, line in enumerate(sys.stdin.read().split()):
    payload = b"" if line == "-" else binascii.unhexlify(line)
    c.publish("interop/paho-in", payload, qos=(1, 2)[i % 2]).wait_for_publish()
c.disconnect()
c.loop_stop()
"#;

/// A child process killed when the test ends, even by a panic.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hex(p: &[u8]) -> String {
    p.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn umqtt_publishes_and_paho_receives_the_exact_bytes() {
    let (Some(b), Some(py)) = (Broker::mosquitto(None), paho_python()) else {
        return;
    };
    let sent = payloads();
    let mut child = Child(
        Command::new(py)
            .args([
                "-c",
                PAHO_SUB,
                &b.addr().port().to_string(),
                &sent.len().to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "READY");
    let (mut c, _) = Conn::connect(b.addr(), opts("umqtt-pub-paho"), 8192).unwrap();
    for (i, p) in sent.iter().enumerate() {
        let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][i % 3];
        c.publish("interop/paho", p, qos, false).unwrap();
    }
    // paho hands a QoS 2 message over at PUBREL, so QoS levels may interleave: compare sets.
    let mut got: Vec<String> = (0..sent.len())
        .map(|_| lines.next().expect("paho output").unwrap())
        .collect();
    let mut want: Vec<String> = sent
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{} {}", hex(p), i % 3))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(child.0.wait().unwrap().success());
    c.disconnect().unwrap();
}

#[test]
fn paho_publishes_and_umqtt_receives_the_exact_bytes() {
    let (Some(b), Some(py)) = (Broker::mosquitto(None), paho_python()) else {
        return;
    };
    let (mut c, _) = Conn::connect(b.addr(), opts("umqtt-sub-paho"), 8192).unwrap();
    c.subscribe("interop/paho-in", QoS::ExactlyOnce).unwrap();
    let sent = payloads();
    let mut child = Child(
        Command::new(py)
            .args(["-c", PAHO_PUB, &b.addr().port().to_string()])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let input: Vec<String> = sent
        .iter()
        .map(|p| if p.is_empty() { "-".into() } else { hex(p) })
        .collect();
    child
        .0
        .stdin
        .take()
        .unwrap()
        .write_all(input.join("\n").as_bytes())
        .unwrap();
    for (i, p) in sent.iter().enumerate() {
        let m = c.recv(WAIT).unwrap().expect("message from paho");
        assert!(m.payload == *p, "payload {i} differs");
        assert_eq!(m.qos, [QoS::AtLeastOnce, QoS::ExactlyOnce][i % 2]);
    }
    assert!(child.0.wait().unwrap().success());
    assert_eq!(
        c.recv(Duration::from_millis(200)).unwrap(),
        None,
        "nothing delivered twice"
    );
    c.disconnect().unwrap();
}
