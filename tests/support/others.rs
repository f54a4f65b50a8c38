//! The other brokers of the matrix (tests/broker_matrix.rs), each started from the test on a
//! free loopback port with one account: aedes (npm, installed globally), amqtt (PyPI) and
//! RabbitMQ's MQTT plugin (Debian's rabbitmq-server), beside mosquitto and rumqttd. A broker
//! that is not installed is skipped with a message, unless `UMQTT_REQUIRE_BROKERS=1` (CI).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::broker::{Broker, NEXT, STARTING, find_program};

/// A broker of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mosquitto,
    /// mosquitto behind a TLS listener (certificates made by the test).
    MosquittoTls,
    Rumqttd,
    Aedes,
    Amqtt,
    RabbitMq,
    /// mosquitto's WebSocket listener (`protocol websockets`, path `/`).
    MosquittoWs,
    /// aedes behind `websocket-stream` (npm), path `/`.
    AedesWs,
    /// RabbitMQ's `rabbitmq_web_mqtt` plugin, path `/ws`.
    RabbitMqWs,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Mosquitto,
        Kind::MosquittoTls,
        Kind::Rumqttd,
        Kind::Aedes,
        Kind::Amqtt,
        Kind::RabbitMq,
        Kind::MosquittoWs,
        Kind::AedesWs,
        Kind::RabbitMqWs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Mosquitto => "mosquitto",
            Kind::MosquittoTls => "mosquitto TLS",
            Kind::Rumqttd => "rumqttd",
            Kind::Aedes => "aedes",
            Kind::Amqtt => "amqtt",
            Kind::RabbitMq => "RabbitMQ",
            Kind::MosquittoWs => "mosquitto ws",
            Kind::AedesWs => "aedes ws",
            Kind::RabbitMqWs => "RabbitMQ ws",
        }
    }
}

/// True when CI demands every broker of the matrix.
pub fn all_brokers_required() -> bool {
    std::env::var("UMQTT_REQUIRE_BROKERS").is_ok_and(|v| v == "1")
}

impl Broker {
    /// `kind` with `user` (name, password) as its only account: anonymous clients and other
    /// credentials are refused. None when it is not installed (a panic when required).
    pub fn start(kind: Kind, user: (&str, &str)) -> Option<Broker> {
        let started = match kind {
            Kind::Mosquitto => Broker::mosquitto(Some(user)),
            Kind::MosquittoTls => mosquitto_tls(user),
            Kind::Rumqttd => {
                let auth = HashMap::from([(user.0.to_string(), user.1.to_string())]);
                Some(Broker::InProcess {
                    addr: umqtt_testbroker::start_with_auth(Some(auth)),
                })
            }
            Kind::Aedes => aedes(user, None),
            Kind::Amqtt => amqtt(user),
            Kind::RabbitMq => rabbitmq(user, None),
            Kind::MosquittoWs => mosquitto_ws(user),
            Kind::AedesWs => over_ws(|ws| aedes(user, Some(ws)), "/"),
            Kind::RabbitMqWs => over_ws(|ws| rabbitmq(user, Some(ws)), "/ws"),
        };
        if started.is_none() {
            assert!(
                !all_brokers_required(),
                "UMQTT_REQUIRE_BROKERS=1 but {} is not installed",
                kind.name()
            );
            eprintln!("{} is not installed: skipped", kind.name());
        }
        started
    }
}

/// mosquitto with a TLS listener and a password file: clients verify it against the test CA.
fn mosquitto_tls(user: (&str, &str)) -> Option<Broker> {
    let pki = super::pki::pki();
    let dir = super::pki::dir(&format!("matrix-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).unwrap();
    let passwd = dir.join("passwd");
    let status = Command::new(find_program("mosquitto_passwd")?)
        .args(["-b", "-c"])
        .arg(&passwd)
        .args([user.0, user.1])
        .status()
        .ok()?;
    assert!(status.success());
    let extra = format!(
        "allow_anonymous false\npassword_file {}\n",
        passwd.display()
    );
    let inner = super::pki::tls_broker(&dir, &pki, false, &extra)?;
    let options = umqtt::transport::tls::TlsOptions::with_ca_pem(pki.ca.as_bytes()).unwrap();
    Some(Broker::Tls {
        inner: Box::new(inner),
        name: "localhost".into(),
        options,
    })
}

/// mosquitto with a password file and a WebSocket listener beside its TCP one.
fn mosquitto_ws(user: (&str, &str)) -> Option<Broker> {
    let dir = std::env::temp_dir().join(format!(
        "umqtt-matrix-ws-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let passwd = dir.join("passwd");
    let status = Command::new(find_program("mosquitto_passwd")?)
        .args(["-b", "-c"])
        .arg(&passwd)
        .args([user.0, user.1])
        .status()
        .ok()?;
    assert!(status.success());
    over_ws(
        |ws| {
            // Without socket_domain the WebSocket listener binds every interface.
            Broker::mosquitto_conf(&format!(
                "allow_anonymous false\npassword_file {}\nlistener {ws} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n",
                passwd.display()
            ))
        },
        "/",
    )
}

/// `start(ws)` starts a broker with a WebSocket listener on port `ws` too; the broker is
/// then reached through it, at `path`.
fn over_ws(start: impl FnOnce(u16) -> Option<Broker>, path: &str) -> Option<Broker> {
    let ws = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let inner = start(ws)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", ws)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the WebSocket listener on {ws} did not open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("ws://127.0.0.1:{ws}{path}").parse().unwrap();
    Some(Broker::Ws {
        inner: Box::new(inner),
        url,
    })
}

fn aedes(user: (&str, &str), ws: Option<u16>) -> Option<Broker> {
    let node = find_program("node")?;
    let root = Command::new(find_program("npm")?)
        .args(["root", "-g"])
        .output()
        .ok()?;
    let root = PathBuf::from(String::from_utf8(root.stdout).ok()?.trim());
    if !root.join("aedes").is_dir() || (ws.is_some() && !root.join("websocket-stream").is_dir()) {
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/brokers/aedes.js");
    let users = format!("{{{:?}: {:?}}}", user.0, user.1);
    let kind = if ws.is_some() {
        Kind::AedesWs
    } else {
        Kind::Aedes
    };
    spawn(kind, Duration::from_secs(20), |port, _| {
        let mut c = Command::new(&node);
        c.env("NODE_PATH", &root)
            .arg(&script)
            .arg(port.to_string())
            .arg(&users);
        if let Some(ws) = ws {
            c.arg(ws.to_string());
        }
        c
    })
}

fn amqtt(user: (&str, &str)) -> Option<Broker> {
    let amqtt = find_program("amqtt")?;
    let python = find_program("python3")?;
    let hash = Command::new(python)
        .args([
            "-c",
            "import sys; from pwdlib import PasswordHash; print(PasswordHash.recommended().hash(sys.argv[1]))",
            user.1,
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let hash = String::from_utf8(hash.stdout).ok()?;
    let (name, hash) = (user.0.to_string(), hash.trim().to_string());
    spawn(Kind::Amqtt, Duration::from_secs(30), move |port, dir| {
        let passwd = dir.join("passwd");
        std::fs::write(&passwd, format!("{name}:{hash}\n")).unwrap();
        let conf = dir.join("broker.yaml");
        std::fs::write(
            &conf,
            format!(
                "listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\nplugins:\n  amqtt.plugins.authentication.FileAuthPlugin:\n    password_file: {}\n",
                passwd.display()
            ),
        )
        .unwrap();
        let mut c = Command::new(&amqtt);
        c.arg("-c").arg(conf);
        c
    })
}

fn rabbitmq(user: (&str, &str), ws: Option<u16>) -> Option<Broker> {
    let server = Path::new("/usr/lib/rabbitmq/bin/rabbitmq-server");
    if !server.is_file() {
        return None;
    }
    let (name, pass) = (user.0.to_string(), user.1.to_string());
    let kind = if ws.is_some() {
        Kind::RabbitMqWs
    } else {
        Kind::RabbitMq
    };
    spawn(kind, Duration::from_secs(90), move |port, dir| {
        let mut conf = format!(
            "listeners.tcp = none\nmqtt.listeners.tcp.default = 127.0.0.1:{port}\nmqtt.allow_anonymous = false\ndefault_user = {name}\ndefault_pass = {pass}\nloopback_users = none\n"
        );
        let mut plugins = "[rabbitmq_mqtt].\n";
        if let Some(ws) = ws {
            conf.push_str(&format!(
                "web_mqtt.tcp.ip = 127.0.0.1\nweb_mqtt.tcp.port = {ws}\n"
            ));
            plugins = "[rabbitmq_mqtt,rabbitmq_web_mqtt].\n";
        }
        std::fs::write(dir.join("rabbitmq.conf"), conf).unwrap();
        std::fs::write(dir.join("enabled_plugins"), plugins).unwrap();
        let dist = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_or(25672, |a| a.port());
        let mut c = Command::new(server);
        // Erlang writes its crash dumps (MnesiaCore.*) to the working directory.
        c.current_dir(dir)
            .env("HOME", dir)
            .env("RABBITMQ_NODENAME", format!("umqtt{port}@localhost"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_DIST_PORT", dist.to_string());
        c
    })
}

/// Starts `command(port, dir)` on a free loopback port in a process group of its own, and
/// waits until the port accepts connections.
fn spawn(kind: Kind, ready: Duration, command: impl Fn(u16, &Path) -> Command) -> Option<Broker> {
    let dir = std::env::temp_dir().join(format!(
        "umqtt-{}-{}-{}",
        kind.name(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let _starting = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("broker.log")).unwrap();
        let mut child = command(port, &dir)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + ready;
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break; // port taken in the meantime, or it failed: try again
            }
            if TcpStream::connect(addr).is_ok() {
                return Some(Broker::External {
                    name: kind.name(),
                    child,
                    addr,
                    dir,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--"])
            .arg(format!("-{}", child.id()))
            .status();
        let _ = child.wait();
    }
    panic!("{} did not start; see {}", kind.name(), dir.display());
}
