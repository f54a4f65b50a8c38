//! What embedded-tls 0.19's own verifier (`pki::CertVerifier`) leaves out, checked around it
//! (feature `embedded-tls`). [`Checked`] hands every call on to the verifier it wraps and
//! refuses, in addition:
//!
//! - a chain in which a certificate other than the broker's own (the first) may not sign
//!   certificates: it must say basicConstraints cA=TRUE and, when it has a keyUsage
//!   extension, keyCertSign (RFC 5280 §6.1.4 (k), (n)). Without this a device's own client
//!   certificate, issued by the fleet CA, could sign a certificate for any broker name;
//! - a broker certificate with a subjectAltName extension none of whose DNS names matches
//!   the server name (an IPv4 address as the server name: none of whose IP addresses equals
//!   it). The subject's common name counts only when the certificate has no subjectAltName
//!   extension at all (RFC 6125 §6.4.4); embedded-tls's verifier, which still runs, looks at
//!   it otherwise too;
//! - a broker certificate whose extendedKeyUsage extension, when it has one, allows neither
//!   TLS server authentication nor any purpose (RFC 5280 §4.2.1.12): a device's client
//!   certificate that happens to carry the broker's name is not a broker's;
//! - a certificate with a critical extension not checked here (RFC 5280 §4.2: a CA's critical
//!   nameConstraints, say, which would otherwise be ignored);
//! - a handshake in which the broker never proved it holds its certificate's key: embedded-tls
//!   takes the server's handshake messages in any order and completes the handshake on the
//!   server's Finished even when no Certificate or CertificateVerify came before it.
//!   [`Checked::authenticated`] says whether both were verified, in that order, once each; a
//!   CertificateVerify before the certificate is refused here (embedded-tls's verifier would
//!   panic on it).
//!
//! The certificates are the ones embedded-tls's verifier checks: every entry of the server's
//! Certificate message, in order, each signed by the next and the last by the CA; the first
//! is the broker's. They are read with the `der` crate embedded-tls reads them with, in place
//! (no copies, no heap).

use der::asn1::{BitStringRef, ObjectIdentifier};
use der::{AnyRef, Decode, Reader, Tag, TagNumber, Tagged};
use embedded_tls::{
    CertificateEntryRef, CertificateRef, CertificateVerifyRef, TlsCipherSuite, TlsError,
    TlsVerifier,
};

/// The longest server name kept (embedded-tls's verifier keeps no longer ones either).
const HOST_MAX: usize = 64;

// The extensions read here (RFC 5280 §4.2.1.9, §4.2.1.3, §4.2.1.6).
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// id-kp-serverAuth and anyExtendedKeyUsage (RFC 5280 §4.2.1.12).
const SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const ANY_PURPOSE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");

/// keyCertSign: bit 5 of keyUsage, in the first byte of the BIT STRING (bit 0 is its top).
const KEY_CERT_SIGN: u8 = 0x04;

/// Where the handshake is, as far as the server's authentication goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// No certificate yet.
    Start,
    /// The certificate chain passed; its key has not yet signed the handshake.
    Certified,
    /// The chain passed and its key signed the handshake.
    Authenticated,
    /// Something was refused: everything after is.
    Refused,
}

/// A [`TlsVerifier`] that runs `V` and the checks of the [module](self) documentation.
pub(crate) struct Checked<V> {
    inner: V,
    host: Option<heapless::String<HOST_MAX>>,
    stage: Stage,
}

impl<V> Checked<V> {
    /// Wraps `inner`, which checks the signatures, the validity period and the CA.
    pub(crate) fn new(inner: V) -> Self {
        Checked {
            inner,
            host: None,
            stage: Stage::Start,
        }
    }

    /// True once the server's certificate chain passed and its key signed the handshake.
    pub(crate) fn authenticated(&self) -> bool {
        self.stage == Stage::Authenticated
    }
}

impl<CS: TlsCipherSuite, V: TlsVerifier<CS>> TlsVerifier<CS> for Checked<V> {
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), TlsError> {
        self.inner.set_hostname_verification(hostname)?;
        let host = heapless::String::try_from(hostname).map_err(|_| TlsError::InsufficientSpace)?;
        self.host = Some(host);
        Ok(())
    }

    fn verify_certificate(
        &mut self,
        transcript: &CS::Hash,
        cert: CertificateRef<'_>,
    ) -> Result<(), TlsError> {
        let stage = self.stage;
        self.stage = Stage::Refused;
        if stage != Stage::Start {
            return Err(TlsError::InvalidHandshake);
        }
        // No server name: nothing to match, so nothing is accepted.
        let host = self.host.as_deref().ok_or(TlsError::InvalidCertificate)?;
        check_chain(&cert.entries, host)?;
        self.inner.verify_certificate(transcript, cert)?;
        self.stage = Stage::Certified;
        Ok(())
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef<'_>) -> Result<(), TlsError> {
        let stage = self.stage;
        self.stage = Stage::Refused;
        if stage != Stage::Certified {
            return Err(TlsError::InvalidHandshake);
        }
        self.inner.verify_signature(verify)?;
        self.stage = Stage::Authenticated;
        Ok(())
    }
}

/// The checks on the chain the server sent: `entries[0]` is the broker's certificate, each
/// later one signed the one before it.
fn check_chain(entries: &[CertificateEntryRef<'_>], host: &str) -> Result<(), TlsError> {
    let mut certs = entries.iter().map(|entry| match entry {
        CertificateEntryRef::X509(der) => Ok(*der),
        CertificateEntryRef::RawPublicKey(_) => Err(TlsError::InvalidCertificate),
    });
    let leaf = certs.next().ok_or(TlsError::InvalidCertificate)??;
    let leaf = Extensions::of(leaf).map_err(|_| TlsError::InvalidCertificate)?;
    let serves = leaf.serves().map_err(|_| TlsError::InvalidCertificate)?;
    if !serves || !leaf.names(host).map_err(|_| TlsError::InvalidCertificate)? {
        return Err(TlsError::InvalidCertificate);
    }
    for signer in certs {
        let signer = Extensions::of(signer?).map_err(|_| TlsError::InvalidCertificate)?;
        if !signer
            .may_sign_certificates()
            .map_err(|_| TlsError::InvalidCertificate)?
        {
            return Err(TlsError::InvalidCertificate);
        }
    }
    Ok(())
}

/// The values (DER, inside their OCTET STRING) of the extensions checked here.
#[derive(Debug, Default, Clone, Copy)]
struct Extensions<'a> {
    basic_constraints: Option<&'a [u8]>,
    key_usage: Option<&'a [u8]>,
    subject_alt_name: Option<&'a [u8]>,
    extended_key_usage: Option<&'a [u8]>,
}

impl<'a> Extensions<'a> {
    /// Reads a certificate (DER) down to its extensions. A certificate that is not one
    /// (RFC 5280 §4.1), that has one of these extensions twice, or a critical one not read
    /// here (§4.2), is an error.
    fn of(cert: &'a [u8]) -> der::Result<Self> {
        let tbs = AnyRef::from_der(cert)?.sequence(|cert| {
            let tbs: AnyRef<'a> = cert.decode()?;
            let _signature_algorithm: AnyRef<'a> = cert.decode()?;
            let _signature: AnyRef<'a> = cert.decode()?;
            Ok::<_, der::Error>(tbs)
        })?;
        let extensions = tbs.sequence(|tbs| {
            let mut extensions = None;
            while !tbs.is_finished() {
                let field: AnyRef<'a> = tbs.decode()?;
                if extensions.is_some() {
                    // [3] is the TBSCertificate's last field.
                    return Err(der::Error::from(field.tag().value_error()));
                }
                if field.tag()
                    == (Tag::ContextSpecific {
                        constructed: true,
                        number: TagNumber(3),
                    })
                {
                    extensions = Some(field.value());
                }
            }
            Ok(extensions)
        })?;
        let mut found = Extensions::default();
        let Some(extensions) = extensions else {
            return Ok(found);
        };
        AnyRef::from_der(extensions)?.sequence(|list| {
            while !list.is_finished() {
                let (id, critical, value) = list.decode::<AnyRef<'a>>()?.sequence(|ext| {
                    let id: ObjectIdentifier = ext.decode()?;
                    let mut critical = false;
                    if Tag::peek(ext)? == Tag::Boolean {
                        critical = ext.decode()?;
                    }
                    let value: AnyRef<'a> = ext.decode()?;
                    value.tag().assert_eq(Tag::OctetString)?;
                    Ok::<_, der::Error>((id, critical, value.value()))
                })?;
                let slot = match id {
                    BASIC_CONSTRAINTS => &mut found.basic_constraints,
                    KEY_USAGE => &mut found.key_usage,
                    SUBJECT_ALT_NAME => &mut found.subject_alt_name,
                    EXTENDED_KEY_USAGE => &mut found.extended_key_usage,
                    // A critical extension this does not check must not pass unchecked.
                    _ if critical => return Err(der::Error::from(Tag::Boolean.value_error())),
                    _ => continue,
                };
                if slot.replace(value).is_some() {
                    return Err(der::Error::from(Tag::OctetString.value_error()));
                }
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// True when the certificate may serve TLS: no extendedKeyUsage, or one that names
    /// serverAuth or any purpose.
    fn serves(&self) -> der::Result<bool> {
        let Some(eku) = self.extended_key_usage else {
            return Ok(true);
        };
        AnyRef::from_der(eku)?.sequence(|purposes| {
            let mut serves = false;
            while !purposes.is_finished() {
                let purpose: ObjectIdentifier = purposes.decode()?;
                serves |= purpose == SERVER_AUTH || purpose == ANY_PURPOSE;
            }
            Ok(serves)
        })
    }

    /// True when the certificate may sign certificates: basicConstraints cA=TRUE, and
    /// keyCertSign when it has a keyUsage extension.
    fn may_sign_certificates(&self) -> der::Result<bool> {
        let Some(basic_constraints) = self.basic_constraints else {
            return Ok(false);
        };
        // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE,
        //                                 pathLenConstraint INTEGER (0..MAX) OPTIONAL }
        let ca = AnyRef::from_der(basic_constraints)?.sequence(|seq| {
            let mut ca = false;
            if !seq.is_finished() && Tag::peek(seq)? == Tag::Boolean {
                ca = seq.decode()?;
            }
            if !seq.is_finished() {
                let path_len: AnyRef<'_> = seq.decode()?;
                path_len.tag().assert_eq(Tag::Integer)?;
            }
            Ok::<_, der::Error>(ca)
        })?;
        if !ca {
            return Ok(false);
        }
        match self.key_usage {
            None => Ok(true),
            Some(key_usage) => {
                let bits = BitStringRef::from_der(key_usage)?;
                Ok(bits
                    .raw_bytes()
                    .first()
                    .is_some_and(|b| b & KEY_CERT_SIGN != 0))
            }
        }
    }

    /// False when the certificate has a subjectAltName extension and none of its names is
    /// `host` (a DNS name, with the wildcard rules of RFC 6125 §6.4.3; an IPv4 address against
    /// the IP addresses). True without the extension: then the common name is what counts,
    /// and embedded-tls's verifier matches it.
    fn names(&self, host: &str) -> der::Result<bool> {
        let Some(names) = self.subject_alt_name else {
            return Ok(true);
        };
        let ip = ipv4(host);
        // GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName; dNSName [2] IA5String,
        // iPAddress [7] OCTET STRING (both IMPLICIT, so primitive).
        AnyRef::from_der(names)?.sequence(|list| {
            let mut matched = false;
            while !list.is_finished() {
                let name: AnyRef<'_> = list.decode()?;
                let Tag::ContextSpecific {
                    constructed: false,
                    number,
                } = name.tag()
                else {
                    continue;
                };
                matched |= match (number, ip) {
                    (TagNumber(2), None) => dns_name_matches(name.value(), host.as_bytes()),
                    (TagNumber(7), Some(ip)) => name.value() == ip.as_slice(),
                    _ => false,
                };
            }
            Ok(matched)
        })
    }
}

/// `host` as an IPv4 address in dotted decimal (`10.0.0.5`; no leading zeros), or None. No
/// IPv6: embedded-tls's verifier refuses every name with a `:` in it anyway.
fn ipv4(host: &str) -> Option<[u8; 4]> {
    let mut address = [0u8; 4];
    let mut parts = host.split('.');
    for octet in &mut address {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with('0')) {
            return None;
        }
        *octet = part.bytes().try_fold(0u8, |n, digit| {
            let digit = digit.is_ascii_digit().then(|| digit.checked_sub(b'0'))??;
            n.checked_mul(10)?.checked_add(digit)
        })?;
    }
    parts.next().is_none().then_some(address)
}

/// A DNS name from a certificate against the host name, ASCII case ignored; `*.` as the whole
/// first label stands for one label, and only above two labels (`*.example.com`, never
/// `*.com`). The rules of embedded-tls's own matcher.
fn dns_name_matches(pattern: &[u8], host: &[u8]) -> bool {
    let name_byte = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.';
    if host.is_empty() || !host.iter().all(name_byte) {
        return false;
    }
    match pattern.strip_prefix(b"*.") {
        None => pattern.eq_ignore_ascii_case(host),
        Some(suffix) => {
            let mut host_labels = host.splitn(2, |b| *b == b'.');
            let first = host_labels.next().unwrap_or_default();
            let rest = host_labels.next();
            suffix.iter().all(name_byte)
                && suffix.contains(&b'.')
                && !first.is_empty()
                && rest.is_some_and(|rest| rest.eq_ignore_ascii_case(suffix))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use embedded_tls::{Aes128GcmSha256, Sha256};
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose,
        IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
    };
    use std::string::ToString;
    use std::vec::Vec;

    fn der(params: &CertificateParams) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::new(CertificateParams::default(), KeyPair::generate().unwrap());
        params.signed_by(&key, &issuer).unwrap().der().to_vec()
    }

    fn may_sign(params: &CertificateParams) -> bool {
        Extensions::of(&der(params))
            .unwrap()
            .may_sign_certificates()
            .unwrap()
    }

    fn names(sans: &[&str], cn: &str, host: &str) -> bool {
        let sans = sans.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        Extensions::of(&der(&params)).unwrap().names(host).unwrap()
    }

    #[test]
    fn a_broker_certificate_must_allow_server_authentication() {
        let serves = |purposes: Vec<ExtendedKeyUsagePurpose>| {
            let mut params = CertificateParams::default();
            params.extended_key_usages = purposes;
            Extensions::of(&der(&params)).unwrap().serves().unwrap()
        };
        assert!(serves(std::vec![]), "no extendedKeyUsage");
        assert!(serves(std::vec![ExtendedKeyUsagePurpose::ServerAuth]));
        assert!(serves(std::vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth
        ]));
        assert!(serves(std::vec![ExtendedKeyUsagePurpose::Any]));
        assert!(
            !serves(std::vec![ExtendedKeyUsagePurpose::ClientAuth]),
            "a device's"
        );
    }

    #[test]
    fn a_critical_extension_not_checked_here_is_refused() {
        let with = |critical: bool| {
            let mut params = CertificateParams::default();
            let mut ext =
                CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], std::vec![5, 0]);
            ext.set_criticality(critical);
            params.custom_extensions = std::vec![ext];
            Extensions::of(&der(&params)).is_ok()
        };
        assert!(with(false), "a non-critical unknown extension is ignored");
        assert!(!with(true), "a critical unknown extension is refused");
    }

    #[test]
    fn only_a_ca_with_key_cert_sign_may_sign_certificates() {
        let mut params = CertificateParams::default();
        assert!(!may_sign(&params), "no basicConstraints");
        params.is_ca = IsCa::ExplicitNoCa;
        assert!(!may_sign(&params), "cA=FALSE");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        assert!(may_sign(&params), "cA=TRUE, pathLen, no keyUsage");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        assert!(may_sign(&params), "cA=TRUE, no keyUsage");
        params.key_usages = std::vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign];
        assert!(!may_sign(&params), "keyUsage without keyCertSign");
        params.key_usages = std::vec![KeyUsagePurpose::KeyCertSign];
        assert!(may_sign(&params), "keyCertSign");
    }

    #[test]
    fn alternative_names_rule_out_the_common_name() {
        assert!(!names(&["other.example"], "localhost", "localhost"));
        assert!(names(&["other.example", "localhost"], "x", "localhost"));
        assert!(names(&["other.example", "LocalHost"], "x", "localhost"));
        // No extension: the common name is embedded-tls's verifier's to match.
        assert!(names(&[], "localhost", "localhost"));
        assert!(names(&["*.example.com"], "x", "broker.example.com"));
        assert!(!names(&["*.example.com"], "x", "a.broker.example.com"));
        // An address against the IP addresses only (rcgen writes "10.0.0.5" as one).
        assert!(names(&["10.0.0.5"], "x", "10.0.0.5"));
        assert!(!names(&["10.0.0.6"], "10.0.0.5", "10.0.0.5"));
        let mut params = CertificateParams::default();
        params.subject_alt_names = std::vec![SanType::DnsName("10.0.0.5".try_into().unwrap())];
        let cert = der(&params);
        let ext = Extensions::of(&cert).unwrap();
        assert!(
            !ext.names("10.0.0.5").unwrap(),
            "a DNS name is not an address"
        );
    }

    #[test]
    fn ipv4_addresses_in_dotted_decimal() {
        assert_eq!(ipv4("10.0.0.5"), Some([10, 0, 0, 5]));
        assert_eq!(ipv4("255.255.255.255"), Some([255; 4]));
        for not in [
            "",
            "10.0.0",
            "10.0.0.5.",
            "10.0.0.256",
            "10.0.0.05",
            "10.0..5",
            "a.b.c.d",
            "1000.0.0.1",
            "+1.0.0.1",
            "localhost",
            "::1",
        ] {
            assert_eq!(ipv4(not), None, "{not}");
        }
    }

    #[test]
    fn wildcards_follow_rfc_6125() {
        assert!(dns_name_matches(b"example.com", b"EXAMPLE.com"));
        assert!(!dns_name_matches(b"example.com", b"sub.example.com"));
        assert!(dns_name_matches(b"*.example.com", b"api.example.com"));
        assert!(!dns_name_matches(b"*.example.com", b"example.com"));
        assert!(!dns_name_matches(b"*.example.com", b".example.com"));
        assert!(!dns_name_matches(b"*.example.com", b"a.b.example.com"));
        assert!(!dns_name_matches(b"*.com", b"example.com"));
        assert!(!dns_name_matches(b"*.*.example.com", b"a.b.example.com"));
        assert!(!dns_name_matches(
            b"api.*.example.com",
            b"api.b.example.com"
        ));
        assert!(!dns_name_matches(
            b"foo*.example.com",
            b"foobar.example.com"
        ));
        assert!(!dns_name_matches(b"", b""));
        assert!(!dns_name_matches(b"exa mple.com", b"exa mple.com"));
    }

    #[test]
    fn what_is_not_a_certificate_is_an_error() {
        let cert = der(&CertificateParams::default());
        assert!(Extensions::of(&cert[..cert.len() - 1]).is_err());
        let mut longer = cert.clone();
        longer.push(0);
        assert!(Extensions::of(&longer).is_err());
        assert!(Extensions::of(&[0x30, 0x00]).is_err());
        assert!(Extensions::of(&[]).is_err());
        let entries = [CertificateEntryRef::RawPublicKey(&cert)];
        assert!(check_chain(&entries, "localhost").is_err());
        assert!(check_chain(&[], "localhost").is_err());
    }

    /// A verifier that accepts everything and counts what it was asked.
    #[derive(Default)]
    struct Yes(u32);

    impl<CS: TlsCipherSuite> TlsVerifier<CS> for Yes {
        fn set_hostname_verification(&mut self, _: &str) -> Result<(), TlsError> {
            Ok(())
        }
        fn verify_certificate(
            &mut self,
            _: &CS::Hash,
            _: CertificateRef<'_>,
        ) -> Result<(), TlsError> {
            self.0 += 1;
            Ok(())
        }
        fn verify_signature(&mut self, _: CertificateVerifyRef<'_>) -> Result<(), TlsError> {
            self.0 += 10;
            Ok(())
        }
    }

    fn verify(v: &mut Checked<Yes>, cert: &[u8]) -> Result<(), TlsError> {
        let mut entries = CertificateRef::with_context(&[]);
        entries.add(CertificateEntryRef::X509(cert)).unwrap();
        TlsVerifier::<Aes128GcmSha256>::verify_certificate(v, &Sha256::default(), entries)
    }

    fn sign(v: &mut Checked<Yes>) -> Result<(), TlsError> {
        let verify = CertificateVerifyRef {
            signature_scheme: embedded_tls::SignatureScheme::EcdsaSecp256r1Sha256,
            signature: &[],
        };
        TlsVerifier::<Aes128GcmSha256>::verify_signature(v, verify)
    }

    fn named(v: &mut Checked<Yes>, host: &str) {
        TlsVerifier::<Aes128GcmSha256>::set_hostname_verification(v, host).unwrap();
    }

    #[test]
    fn the_key_must_sign_once_after_the_chain_passed_once() {
        let cert = der(&CertificateParams::new(std::vec!["localhost".into()]).unwrap());
        let mut v = Checked::new(Yes::default());
        named(&mut v, "localhost");
        assert!(verify(&mut v, &cert).is_ok());
        assert!(!v.authenticated(), "no CertificateVerify yet");
        assert!(sign(&mut v).is_ok());
        assert!(v.authenticated());
        assert_eq!(v.inner.0, 11);
        assert!(sign(&mut v).is_err(), "a second CertificateVerify");
        assert!(!v.authenticated());

        // CertificateVerify first: refused without asking the inner verifier (which panics).
        let mut v = Checked::new(Yes::default());
        named(&mut v, "localhost");
        assert!(sign(&mut v).is_err());
        assert!(verify(&mut v, &cert).is_err());
        assert_eq!(v.inner.0, 0);

        // Two Certificate messages; a name the certificate lacks; no name at all.
        let mut v = Checked::new(Yes::default());
        named(&mut v, "localhost");
        assert!(verify(&mut v, &cert).is_ok());
        assert!(verify(&mut v, &cert).is_err());
        let mut v = Checked::new(Yes::default());
        named(&mut v, "broker.example");
        assert!(verify(&mut v, &cert).is_err());
        assert_eq!(v.inner.0, 0, "refused before the inner verifier ran");
        let mut v = Checked::new(Yes::default());
        assert!(verify(&mut v, &cert).is_err());
    }
}
