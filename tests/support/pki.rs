//! Certificates generated at test time (rcgen; nothing committed) and mosquitto with a TLS
//! listener using them.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::broker::Broker;
use umqtt::{Blocking, Client, ConnectOptions, Event, QoS, StdClock};

/// A CA and what it signed, as PEM.
pub struct Pki {
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
    pub expired_cert: String,
    pub expired_key: String,
    /// DER forms for the no_std TLS (embedded-tls): the CA, the client's certificate and key
    /// (PKCS#8).
    pub ca_der: Vec<u8>,
    pub client_cert_der: Vec<u8>,
    pub client_key_der: Vec<u8>,
}

/// A CA: its certificate (PEM), its issuer, its certificate (DER).
pub fn ca(name: &str) -> (String, Issuer<'static, KeyPair>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key), cert.der().to_vec())
}

/// A certificate for `names` signed by `issuer`: certificate and key as PEM, then as DER (the
/// key PKCS#8).
pub fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    names: &[&str],
    expired: bool,
) -> (String, String, Vec<u8>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "umqtt test");
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = params.signed_by(&key, issuer).unwrap();
    (
        cert.pem(),
        key.serialize_pem(),
        cert.der().to_vec(),
        key.serialize_der(),
    )
}

pub fn pki() -> Pki {
    let (ca, issuer, ca_der) = ca("umqtt test CA");
    let (server_cert, server_key, ..) = leaf(&issuer, &["localhost", "127.0.0.1"], false);
    let (client_cert, client_key, client_cert_der, client_key_der) =
        leaf(&issuer, &["umqtt-client"], false);
    let (expired_cert, expired_key, ..) = leaf(&issuer, &["localhost"], true);
    Pki {
        ca,
        server_cert,
        server_key,
        client_cert,
        client_key,
        expired_cert,
        expired_key,
        ca_der,
        client_cert_der,
        client_key_der,
    }
}

/// A certificate made from `params` with a fresh key, signed by `issuer`: its certificate
/// (PEM) and key (PEM), and an issuer of its own — the key signs whatever it is given,
/// whether or not the certificate says it may (a forger's view).
pub fn signed(
    params: CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
) -> (String, String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    let key_pem = key.serialize_pem();
    (cert.pem(), key_pem, Issuer::new(params, key))
}

/// What a fleet CA issues a device: a client certificate (no CA bit, client auth only).
pub fn device_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}

/// An intermediate CA's certificate: cA=TRUE, keyCertSign.
pub fn intermediate_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name.push(DnType::CommonName, name);
    params
}

/// A server certificate: subject alternative names `sans` (none: no extension), common name
/// `cn`.
pub fn server_params(sans: &[&str], cn: &str) -> CertificateParams {
    let sans: Vec<String> = sans.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params
}

/// mosquitto with a TLS listener (our CA, the server's — or the expired — certificate) and
/// every packet logged, plus `extra` lines; None when it is not installed.
pub fn tls_broker(dir: &Path, pki: &Pki, expired: bool, extra: &str) -> Option<Broker> {
    let (cert, key) = match expired {
        true => (&pki.expired_cert, &pki.expired_key),
        false => (&pki.server_cert, &pki.server_key),
    };
    tls_broker_serving(dir, &pki.ca, cert, key, extra)
}

/// mosquitto with a TLS listener serving `chain` (PEM: its certificate, then the
/// intermediates it sends along) with `key`, trusting `ca` for client certificates, every
/// packet logged, plus `extra` lines; None when it is not installed.
pub fn tls_broker_serving(
    dir: &Path,
    ca: &str,
    chain: &str,
    key: &str,
    extra: &str,
) -> Option<Broker> {
    std::fs::create_dir_all(dir).unwrap();
    for (name, pem) in [("ca.pem", ca), ("server.pem", chain), ("server.key", key)] {
        std::fs::write(dir.join(name), pem).unwrap();
    }
    Broker::mosquitto_conf(&format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nlog_type all\n{extra}",
        dir.join("ca.pem").display(),
        dir.join("server.pem").display(),
        dir.join("server.key").display(),
    ))
}

/// The broker's log so far.
pub fn broker_log(b: &Broker) -> String {
    b.log().unwrap_or_default()
}

pub fn dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("umqtt-tls-{}-{name}", std::process::id()))
}

/// Subscribes to `t/#` and publishes QoS 0, 1, 2 to itself over `io`; every payload returns.
pub fn round_trip<T: embedded_io::Read + embedded_io::Write>(io: T, options: ConnectOptions<'_>)
where
    T::Error: std::fmt::Debug,
{
    let client = Client::new(options, vec![0; 4096], vec![0; 4096], vec![0; 8192]).unwrap();
    let mut m = Blocking::new(client, io, StdClock::new(), |_| {});
    m.connect().unwrap();
    m.subscribe("t/#", QoS::ExactlyOnce).unwrap();
    let mut got = Vec::new();
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let body: Vec<u8> = (0..1000).map(|b| (b * 7 + i) as u8).collect();
        m.publish(&format!("t/{i}"), &body, qos, false).unwrap();
        while got.len() <= i {
            if let Event::Message(msg) = m.next_event().unwrap() {
                got.push((msg.topic.as_str().to_string(), msg.payload.to_vec()));
            }
        }
        assert_eq!(got[i], (format!("t/{i}"), body), "over TLS");
    }
    m.wait_published().unwrap();
    m.disconnect().unwrap();
}
