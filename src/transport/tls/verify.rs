//! Broker certificates the way mosquitto's TLS documentation and the classic tutorials make
//! them: `openssl x509 -req` without `-extfile` gives an X.509 **v1** certificate with the
//! host name only in its subject's CN. webpki refuses both (v1 at all, and the CN as a name);
//! mosquitto_pub and paho (OpenSSL) accept them. [`Verifier`] does what webpki does and, for
//! such a certificate only, checks it itself — the chain to one of your CA certificates
//! (each signature, by rustls's own algorithms), the validity period, and the name (the CN
//! when there is no subjectAltName) — instead of refusing it.

use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// Why a certificate webpki could not judge failed our own checks (inside
/// `CertificateError::Other`; its sentence says what to do).
#[derive(Debug)]
pub struct LegacyFailure(String);

impl core::fmt::Display for LegacyFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LegacyFailure {}

/// The advice every refusal of such a certificate ends with.
pub(crate) const OPENSSL_FIX: &str = "re-issue it as X.509 v3 with the host name as a \
    subjectAltName: openssl x509 -req ... -extfile <(printf 'subjectAltName=DNS:HOST')";

fn refuse(why: String) -> Error {
    refuse_with(why, OPENSSL_FIX)
}

/// A refusal that says `why`, then `fix`.
fn refuse_with(why: String, fix: &str) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
        LegacyFailure(std::format!("{why}; {fix}")),
    ))))
}

/// A CA certificate of yours, parsed: whom it names and its key.
#[derive(Debug)]
struct Ca {
    subject: Vec<u8>,
    spki: Spki,
}

/// A public key as rustls's verification algorithms take it.
#[derive(Debug, Clone)]
struct Spki {
    /// The AlgorithmIdentifier's contents (no SEQUENCE header), as rustls's ids are.
    algorithm: Vec<u8>,
    /// The subjectPublicKey bits.
    key: Vec<u8>,
}

/// The DER contents of a TLV (its header dropped).
fn contents(der: &[u8]) -> &[u8] {
    let header = match der.get(1) {
        Some(&n) if n < 0x80 => 2,
        Some(&n) => 2 + usize::from(n & 0x7f),
        None => return &[],
    };
    der.get(header..).unwrap_or_default()
}

fn spki_of(cert: &Certificate) -> Option<Spki> {
    let info = &cert.tbs_certificate.subject_public_key_info;
    Some(Spki {
        algorithm: contents(&info.algorithm.to_der().ok()?).to_vec(),
        key: info.subject_public_key.as_bytes()?.to_vec(),
    })
}

/// webpki's verifier, with our checks for what it cannot judge.
#[derive(Debug)]
pub(crate) struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    cas: Vec<Ca>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Verifier {
    /// webpki over `roots`, and our checks against `cas` (your CA certificates, DER).
    pub(crate) fn new(
        webpki: Arc<WebPkiServerVerifier>,
        cas: &[CertificateDer<'static>],
        provider: &CryptoProvider,
    ) -> Self {
        let cas = cas
            .iter()
            .filter_map(|der| {
                let cert = Certificate::from_der(der).ok()?;
                Some(Ca {
                    subject: cert.tbs_certificate.subject.to_der().ok()?,
                    spki: spki_of(&cert)?,
                })
            })
            .collect();
        Verifier {
            webpki,
            cas,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    /// Does `signature` over `message` verify with `key`, by the algorithm `signature_alg`
    /// (a certificate's, DER contents) names?
    fn signed(&self, key: &Spki, signature_alg: &[u8], message: &[u8], signature: &[u8]) -> bool {
        self.algorithms.all.iter().any(|alg| {
            alg.signature_alg_id().as_ref() == signature_alg
                && alg.public_key_alg_id().as_ref() == key.algorithm.as_slice()
                && alg.verify_signature(&key.key, message, signature).is_ok()
        })
    }

    /// The checks webpki would make, for a v1 certificate: issued by one of your CAs (its
    /// signature verified), valid now, and for `name`.
    fn verify_v1(
        &self,
        leaf: &Certificate,
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let tbs = &leaf.tbs_certificate;
        let issuer = tbs
            .issuer
            .to_der()
            .map_err(|_| refuse("unreadable issuer".into()))?;
        let signed = tbs
            .to_der()
            .map_err(|_| refuse("unreadable certificate".into()))?;
        let algorithm = leaf
            .signature_algorithm
            .to_der()
            .map_err(|_| refuse("unreadable signature algorithm".into()))?;
        let signature = leaf.signature.as_bytes().unwrap_or_default();
        if leaf.signature_algorithm != tbs.signature {
            return Err(refuse(
                "the certificate's two signature algorithms differ".into(),
            ));
        }
        let trusted = self.cas.iter().any(|ca| {
            ca.subject == issuer && self.signed(&ca.spki, contents(&algorithm), &signed, signature)
        });
        if !trusted {
            return Err(refuse_with(
                std::format!(
                    "the broker's X.509 v1 certificate (issuer {}) is not signed by any of your \
                     CA certificates",
                    tbs.issuer
                ),
                "give the CA certificate that signed it (mosquitto_pub's --cafile: \
                 TlsOptions::with_ca_pem)",
            ));
        }
        let secs = now.as_secs();
        let from = tbs.validity.not_before.to_unix_duration().as_secs();
        let until = tbs.validity.not_after.to_unix_duration().as_secs();
        if secs < from {
            return Err(Error::InvalidCertificate(CertificateError::NotValidYet));
        }
        if secs > until {
            return Err(Error::InvalidCertificate(CertificateError::Expired));
        }
        valid_for(leaf, name)
    }
}

/// Is `leaf` for `name`: a subjectAltName entry when it has them, else its subject's CN.
fn valid_for(leaf: &Certificate, name: &ServerName<'_>) -> Result<(), Error> {
    let tbs = &leaf.tbs_certificate;
    let wanted = match name {
        ServerName::DnsName(d) => d.as_ref().to_ascii_lowercase(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => return Err(Error::InvalidCertificate(CertificateError::NotValidForName)),
    };
    if let Ok(Some((_, SubjectAltName(names)))) = tbs.get::<SubjectAltName>() {
        let found = names.iter().any(|n| match (n, name) {
            (GeneralName::DnsName(d), ServerName::DnsName(_)) => dns_matches(d.as_str(), &wanted),
            (GeneralName::IpAddress(octets), ServerName::IpAddress(ip)) => {
                let ip = std::net::IpAddr::from(*ip);
                match ip {
                    std::net::IpAddr::V4(v4) => octets.as_bytes() == v4.octets(),
                    std::net::IpAddr::V6(v6) => octets.as_bytes() == v6.octets(),
                }
            }
            _ => false,
        });
        return match found {
            true => Ok(()),
            false => Err(Error::InvalidCertificate(CertificateError::NotValidForName)),
        };
    }
    if let ServerName::IpAddress(_) = name {
        // A CN (or a wildcard) never stands for an IP address.
        return Err(refuse_with(
            std::format!(
                "the broker's certificate has no subjectAltName, and {wanted} is an IP address: \
                 only an IP subjectAltName names one (or connect by the host name in its CN)"
            ),
            &std::format!(
                "re-issue it as X.509 v3 with the address as a subjectAltName: openssl x509 \
                 -req ... -extfile <(printf 'subjectAltName=IP:{wanted}')"
            ),
        ));
    }
    let cn = common_name(leaf);
    match cn.as_deref() {
        Some(cn) if dns_matches(cn, &wanted) => Ok(()),
        Some(cn) => Err(refuse(std::format!(
            "the broker's certificate has no subjectAltName and its CN ({cn}) is not {wanted}"
        ))),
        None => Err(refuse(
            "the broker's certificate names no host: no subjectAltName, no CN".into(),
        )),
    }
}

/// The subject's CN (the last one), as text.
fn common_name(cert: &Certificate) -> Option<String> {
    let cn = x509_cert::der::oid::db::rfc4519::CN;
    let value = cert
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .rfind(|attr| attr.oid == cn)?;
    core::str::from_utf8(value.value.value())
        .ok()
        .map(Into::into)
}

/// A DNS name against a certificate's: equal ignoring case, or `*.rest` for one label.
fn dns_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(rest) => name
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => pattern == name,
    }
}

/// The schemes TLS 1.3 allows for a handshake signature (RFC 8446 4.2.3: no PKCS#1).
fn tls13_scheme(scheme: SignatureScheme) -> bool {
    use SignatureScheme as S;
    matches!(
        scheme,
        S::ECDSA_NISTP256_SHA256
            | S::ECDSA_NISTP384_SHA384
            | S::ECDSA_NISTP521_SHA512
            | S::RSA_PSS_SHA256
            | S::RSA_PSS_SHA384
            | S::RSA_PSS_SHA512
            | S::ED25519
            | S::ED448
    )
}

/// The leaf's version is v1 (webpki refuses those outright).
fn is_v1(cert: &Certificate) -> bool {
    cert.tbs_certificate.version == x509_cert::Version::V1
}

/// The webpki error that only means "the name is in the CN".
fn name_only(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let webpki =
            self.webpki
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        let e = match webpki {
            Ok(verified) => return Ok(verified),
            Err(e) => e,
        };
        let Ok(leaf) = Certificate::from_der(end_entity) else {
            return Err(e);
        };
        if is_v1(&leaf) {
            self.verify_v1(&leaf, server_name, now)?;
            return Ok(ServerCertVerified::assertion());
        }
        // webpki checked the chain (and the dates) before the name: only the name failed. A
        // certificate your own CA issued without a subjectAltName names its host in the CN;
        // one from a public CA must not (name constraints are not checked against a CN).
        let no_san = matches!(leaf.tbs_certificate.get::<SubjectAltName>(), Ok(None));
        let issuer = leaf.tbs_certificate.issuer.to_der().ok();
        let ours = self
            .cas
            .iter()
            .any(|ca| Some(&ca.subject) == issuer.as_ref());
        if name_only(&e) && no_san && ours {
            valid_for(&leaf, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        Err(e)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms) {
            Ok(valid) => Ok(valid),
            Err(e) => self.raw_signature(message, cert, dss).ok_or(e),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms) {
            Ok(valid) => Ok(valid),
            // TLS 1.3 allows fewer schemes (no PKCS#1): rustls's rule, kept here too.
            Err(e) if !tls13_scheme(dss.scheme) => Err(e),
            Err(e) => self.raw_signature(message, cert, dss).ok_or(e),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl Verifier {
    /// The handshake signature by a v1 certificate's key (webpki cannot read the
    /// certificate): any algorithm the scheme maps to.
    fn raw_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Option<HandshakeSignatureValid> {
        let leaf = Certificate::from_der(cert).ok().filter(is_v1)?;
        let key = spki_of(&leaf)?;
        let (_, algs) = self
            .algorithms
            .mapping
            .iter()
            .find(|(s, _)| *s == dss.scheme)?;
        algs.iter()
            .filter(|alg| alg.public_key_alg_id().as_ref() == key.algorithm.as_slice())
            .any(|alg| {
                alg.verify_signature(&key.key, message, dss.signature())
                    .is_ok()
            })
            .then(HandshakeSignatureValid::assertion)
    }
}

/// A client certificate webpki cannot read (X.509 v1): presented as it is, without the
/// key-matches-certificate check rustls makes with webpki.
pub(crate) fn is_v1_der(der: &CertificateDer<'_>) -> bool {
    Certificate::from_der(der).is_ok_and(|c| is_v1(&c))
}

/// Always these client certificates (for a v1 chain, which rustls's own resolver refuses).
#[derive(Debug)]
pub(crate) struct ClientCert(pub(crate) Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The verifier of [`super::TlsOptions::insecure_skip_verification`]: accepts any certificate, but
/// still checks the handshake signatures with it.
#[derive(Debug)]
pub(super) struct NoVerification(pub(super) Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::dns_matches;

    #[test]
    fn names_match_exactly_or_by_one_wildcard_label() {
        assert!(dns_matches("Broker.Local", "broker.local"));
        assert!(dns_matches("*.example.com", "a.example.com"));
        assert!(!dns_matches("*.example.com", "example.com"));
        assert!(!dns_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_matches("broker", "other"));
    }
}
