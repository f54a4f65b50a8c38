//! One way to name a broker everywhere (feature `std`): `mqtt://host[:port]`,
//! `mqtts://host[:port]`, `ws://host[:port][/path]`, `wss://host[:port][/path]`, or a bare
//! `host:port` (plain MQTT). [`crate::StdClient`], the tokio [`crate::managed::tokio::TokioClient`]
//! and the `umqtt` CLI (`-L`) take them; a list of them is tried in order on every
//! reconnect.
//!
//! ```
//! use umqtt::transport::url::{BrokerUrl, Scheme};
//!
//! let url: BrokerUrl = "ws://broker.emqx.io:8083/mqtt".parse()?;
//! assert_eq!((url.scheme(), url.host(), url.port(), url.path()), (Scheme::Ws, "broker.emqx.io", 8083, "/mqtt"));
//! assert_eq!("mqtts://example.com".parse::<BrokerUrl>()?.port(), 8883);
//! assert_eq!("127.0.0.1:1883".parse::<BrokerUrl>()?.scheme(), Scheme::Mqtt);
//! # Ok::<(), umqtt::transport::url::UrlError>(())
//! ```

use std::fmt;
use std::string::{String, ToString};
use std::vec::Vec;

/// How a broker is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// MQTT over TCP (`mqtt://`, `tcp://`; port 1883).
    Mqtt,
    /// MQTT over TLS (`mqtts://`, `ssl://`, `tls://`; port 8883).
    Mqtts,
    /// MQTT over WebSocket (`ws://`; port 80), subprotocol `mqtt`.
    Ws,
    /// MQTT over WebSocket over TLS (`wss://`; port 443).
    Wss,
}

impl Scheme {
    /// The port a URL without one gets.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    /// TLS is part of it (`mqtts://`, `wss://`).
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Mqtts | Scheme::Wss)
    }

    /// WebSocket is part of it (`ws://`, `wss://`).
    pub fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }

    fn name(self) -> &'static str {
        match self {
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }
}

/// A broker's address: scheme, host, port and (WebSocket) path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerUrl {
    scheme: Scheme,
    host: String,
    port: u16,
    path: String,
}

/// Why a string is not a broker URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

fn error(url: &str, why: &str) -> UrlError {
    UrlError(std::format!(
        "{url:?} is not a broker URL ({why}): use mqtt://host[:port], mqtts://, ws://host[:port]/path or wss://"
    ))
}

impl BrokerUrl {
    /// How it is reached.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host name or IP address (without the brackets of an IPv6 literal): what TLS
    /// verifies and sends as SNI.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the scheme's default when the URL had none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The WebSocket path (`/` when none was given; EMQX serves `/mqtt`, mosquitto `/`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `host:port` for `TcpStream::connect` (IPv6 literals in brackets).
    pub fn socket_addr(&self) -> String {
        match self.host.contains(':') {
            true => std::format!("[{}]:{}", self.host, self.port),
            false => std::format!("{}:{}", self.host, self.port),
        }
    }

    /// The same broker with another path (WebSocket).
    pub fn with_path(mut self, path: &str) -> Self {
        self.path = match path.starts_with('/') {
            true => path.into(),
            false => std::format!("/{path}"),
        };
        self
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.name(), self.socket_addr())?;
        if self.scheme.is_websocket() {
            f.write_str(&self.path)?;
        }
        Ok(())
    }
}

impl core::str::FromStr for BrokerUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = match url.split_once("://") {
            Some((name, rest)) => {
                let scheme = match name.to_ascii_lowercase().as_str() {
                    "mqtt" | "tcp" => Scheme::Mqtt,
                    "mqtts" | "ssl" | "tls" => Scheme::Mqtts,
                    "ws" => Scheme::Ws,
                    "wss" => Scheme::Wss,
                    _ => return Err(error(url, "unknown scheme")),
                };
                (scheme, rest)
            }
            None => (Scheme::Mqtt, url),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(error(url, "credentials go in ConnectOptions, not the URL"));
        }
        let (host, port) = match authority.strip_prefix('[') {
            // [v6]:port or [v6]
            Some(v6) => match v6.split_once(']') {
                Some((host, "")) => (host, None),
                Some((host, port)) => match port.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(error(url, "junk after the IPv6 address")),
                },
                None => return Err(error(url, "unclosed [")),
            },
            None => match authority.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => {
                    return Err(error(url, "an IPv6 address goes in [brackets]"));
                }
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(error(url, "no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| error(url, "the port is not a number from 1 to 65535"))?,
            None => scheme.default_port(),
        };
        if !scheme.is_websocket() && path != "/" {
            return Err(error(url, "only ws:// and wss:// have a path"));
        }
        Ok(BrokerUrl {
            scheme,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

impl TryFrom<&str> for BrokerUrl {
    type Error = UrlError;

    fn try_from(url: &str) -> Result<Self, UrlError> {
        url.parse()
    }
}

impl TryFrom<String> for BrokerUrl {
    type Error = UrlError;

    fn try_from(url: String) -> Result<Self, UrlError> {
        url.parse()
    }
}

impl TryFrom<&String> for BrokerUrl {
    type Error = UrlError;

    fn try_from(url: &String) -> Result<Self, UrlError> {
        url.parse()
    }
}

/// One broker or a list of them, tried in order: a `&str` / `String` URL, a [`BrokerUrl`], or
/// a slice, array or `Vec` of either.
pub trait IntoBrokers {
    /// The URLs, parsed; an empty list is an error.
    fn into_brokers(self) -> Result<Vec<BrokerUrl>, UrlError>;
}

fn nonempty(urls: Vec<BrokerUrl>) -> Result<Vec<BrokerUrl>, UrlError> {
    match urls.is_empty() {
        true => Err(UrlError("no broker URL given".into())),
        false => Ok(urls),
    }
}

impl IntoBrokers for &str {
    fn into_brokers(self) -> Result<Vec<BrokerUrl>, UrlError> {
        Ok(std::vec![self.parse()?])
    }
}

impl IntoBrokers for String {
    fn into_brokers(self) -> Result<Vec<BrokerUrl>, UrlError> {
        self.as_str().into_brokers()
    }
}

impl IntoBrokers for &String {
    fn into_brokers(self) -> Result<Vec<BrokerUrl>, UrlError> {
        self.as_str().into_brokers()
    }
}

impl IntoBrokers for BrokerUrl {
    fn into_brokers(self) -> Result<Vec<BrokerUrl>, UrlError> {
        Ok(std::vec![self])
    }
}

impl IntoBrokers for Vec<BrokerUrl> {
    fn into_brokers(self) -> Result<Vec<BrokerUrl>, UrlError> {
        nonempty(self)
    }
}

impl<S: AsRef<str>> IntoBrokers for &[S] {
    fn into_brokers(self) -> Result<Vec<BrokerUrl>, UrlError> {
        nonempty(
            self.iter()
                .map(|u| u.as_ref().parse())
                .collect::<Result<_, _>>()?,
        )
    }
}

impl<S: AsRef<str>, const N: usize> IntoBrokers for [S; N] {
    fn into_brokers(self) -> Result<Vec<BrokerUrl>, UrlError> {
        self.as_slice().into_brokers()
    }
}

impl<S: AsRef<str>> IntoBrokers for Vec<S> {
    fn into_brokers(self) -> Result<Vec<BrokerUrl>, UrlError> {
        self.as_slice().into_brokers()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (Scheme, String, u16, String) {
        let u: BrokerUrl = url.parse().unwrap();
        (u.scheme(), u.host().into(), u.port(), u.path().into())
    }

    #[test]
    fn every_scheme_with_and_without_port_and_path() {
        let cases = [
            ("mqtt://h", Scheme::Mqtt, "h", 1883, "/"),
            ("tcp://h:1", Scheme::Mqtt, "h", 1, "/"),
            ("h:1884", Scheme::Mqtt, "h", 1884, "/"),
            ("localhost", Scheme::Mqtt, "localhost", 1883, "/"),
            ("mqtts://h", Scheme::Mqtts, "h", 8883, "/"),
            ("SSL://h:9", Scheme::Mqtts, "h", 9, "/"),
            ("ws://h", Scheme::Ws, "h", 80, "/"),
            ("ws://h:8083/mqtt", Scheme::Ws, "h", 8083, "/mqtt"),
            ("wss://h/a/b", Scheme::Wss, "h", 443, "/a/b"),
            ("mqtt://[::1]:1885", Scheme::Mqtt, "::1", 1885, "/"),
            ("wss://[::1]/p", Scheme::Wss, "::1", 443, "/p"),
        ];
        for (url, scheme, host, port, path) in cases {
            assert_eq!(
                parts(url),
                (scheme, host.into(), port, path.into()),
                "{url}"
            );
        }
        let u: BrokerUrl = "mqtt://[::1]:1885".parse().unwrap();
        assert_eq!(u.socket_addr(), "[::1]:1885");
        assert_eq!(u.to_string(), "mqtt://[::1]:1885");
        let ws: BrokerUrl = "ws://h:8083/mqtt".parse().unwrap();
        assert_eq!(ws.to_string(), "ws://h:8083/mqtt");
        assert_eq!(ws.clone().with_path("x").path(), "/x");
    }

    #[test]
    fn one_or_many_brokers() {
        assert_eq!("h:1".into_brokers().unwrap().len(), 1);
        let list = ["mqtt://a:1", "ws://b:2/m"].into_brokers().unwrap();
        assert_eq!((list[0].host(), list[1].path()), ("a", "/m"));
        assert_eq!(
            std::vec![String::from("a")].into_brokers().unwrap()[0].port(),
            1883
        );
        assert!(Vec::<BrokerUrl>::new().into_brokers().is_err());
        assert!(["mqtt://a", "http://b"].into_brokers().is_err());
    }

    #[test]
    fn what_is_not_a_broker_url_says_why() {
        for (url, why) in [
            ("http://h", "unknown scheme"),
            ("mqtt://", "no host"),
            ("mqtt://:1883", "no host"),
            ("mqtt://h:0", "port"),
            ("mqtt://h:65536", "port"),
            ("mqtt://h:x", "port"),
            ("mqtt://h/path", "only ws://"),
            ("mqtt://u:p@h", "credentials"),
            ("mqtt://::1", "brackets"),
            ("mqtt://[::1", "unclosed"),
            ("mqtt://[::1]x", "junk"),
        ] {
            let e = url.parse::<BrokerUrl>().unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(e.contains("mqtt://host[:port]"), "{e}");
        }
    }
}
