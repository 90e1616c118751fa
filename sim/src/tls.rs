//! TLS material per cluster: the serving certificate in one of several
//! shapes, a client CA for client-certificate authentication, and the
//! rustls server configuration that ties them together (ring provider,
//! ECDSA P-256 keys so start-up stays fast).
//!
//! Why shapes: kq promises to accept whatever kubeconfig kubectl accepts,
//! with the same verdict on the same server (see DESIGN.md, "Connecting").
//! Real clusters present CA-signed leaves, chains through intermediates,
//! self-signed `CA:TRUE` certificates (kubeadm-style and `openssl req -x509`
//! setups), expired certificates and certificates for a name other than the
//! address in the kubeconfig; kq's compatibility tests need each of them.
//!
//! Why client certificates are checked after the handshake: the real
//! kube-apiserver asks for an optional client certificate
//! (`tls.RequestClientCert`) and verifies it in its x509 authenticator, so
//! a certificate from an unknown CA still completes the handshake and the
//! request is answered 401 Unauthorized. rustls' `WebPkiClientVerifier`
//! would abort the handshake instead, so the handshake only checks that the
//! client holds the key (the CertificateVerify signature) and the chain is
//! verified against the client CA per connection, in [`ClientAuth::authenticate`].

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

/// The shape of the certificate a cluster serves (one setting for the whole fleet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsShape {
    /// A per-cluster CA signs a leaf for 127.0.0.1 and localhost.
    #[default]
    CaSigned,
    /// Root CA → intermediate CA → leaf; the server sends leaf + intermediate
    /// and the kubeconfig trusts the root only.
    Intermediate,
    /// The serving certificate is self-signed with basicConstraints CA:TRUE
    /// (as `openssl req -x509` makes it), for 127.0.0.1 and localhost; the
    /// kubeconfig trusts that same certificate.
    SelfSignedCa,
    /// A CA-signed leaf whose validity ended yesterday.
    Expired,
    /// A CA-signed leaf whose subject alternative names are exactly these
    /// DNS names / IP addresses (e.g. only `kubernetes.default.svc`). The
    /// fleet's own kubeconfig does not add `tls-server-name`, so it fails
    /// host-name verification unless the names include 127.0.0.1.
    Hosts(Vec<String>),
}

/// What a cluster needs to serve HTTPS and what clients need to trust it.
pub(crate) struct TlsMaterial {
    /// The trust anchor a kubeconfig carries in `certificate-authority-data`.
    pub ca_pem: String,
    /// The leaf certificate the server presents.
    pub serving_cert_pem: String,
    pub client_auth: Arc<ClientAuth>,
    pub server_config: Arc<rustls::ServerConfig>,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

fn ca_params(common_name: String) -> Result<CertificateParams, String> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA parameters", e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn new_ca(common_name: String) -> Result<CertifiedIssuer<'static, KeyPair>, String> {
    let key = KeyPair::generate().map_err(|e| err("generating a CA key", e))?;
    CertifiedIssuer::self_signed(ca_params(common_name)?, key)
        .map_err(|e| err("self-signing a CA", e))
}

fn leaf_params(cluster: &str, names: Vec<String>) -> Result<CertificateParams, String> {
    let mut params =
        CertificateParams::new(names).map_err(|e| err("server certificate names", e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("kq-sim-{cluster}"));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

fn local_names() -> Vec<String> {
    vec!["127.0.0.1".to_string(), "localhost".to_string()]
}

/// Sets the validity window relative to now: from `starts_ago` ago until the
/// end `ends` describes. rcgen does not re-export its time type, so times are
/// reached by adding to the epoch rather than named.
fn set_validity(params: &mut CertificateParams, starts_ago: Duration, ends: Validity) {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + since_epoch.saturating_sub(starts_ago);
    params.not_after = match ends {
        Validity::EndedAgo(d) => epoch + since_epoch.saturating_sub(d),
        Validity::LastsFor(d) => epoch + since_epoch + d,
    };
}

/// When a certificate's validity ends.
enum Validity {
    /// This long ago (an expired certificate).
    EndedAgo(Duration),
    /// This long from now.
    LastsFor(Duration),
}

pub(crate) fn generate(cluster: &str, shape: &TlsShape) -> Result<TlsMaterial, String> {
    let server_key = KeyPair::generate().map_err(|e| err("generating the server key", e))?;
    let (ca_pem, chain) = match shape {
        TlsShape::CaSigned | TlsShape::Expired | TlsShape::Hosts(_) => {
            let ca = new_ca(format!("kq-sim-ca-{cluster}"))?;
            let names = match shape {
                TlsShape::Hosts(names) => names.clone(),
                _ => local_names(),
            };
            let mut params = leaf_params(cluster, names)?;
            if *shape == TlsShape::Expired {
                set_validity(
                    &mut params,
                    Duration::from_secs(2 * 86_400),
                    Validity::EndedAgo(Duration::from_secs(86_400)),
                );
            }
            let leaf = params
                .signed_by(&server_key, &ca)
                .map_err(|e| err("signing the server certificate", e))?;
            (ca.pem(), vec![leaf.der().clone()])
        }
        TlsShape::Intermediate => {
            let root = new_ca(format!("kq-sim-root-ca-{cluster}"))?;
            let intermediate_key =
                KeyPair::generate().map_err(|e| err("generating the intermediate key", e))?;
            let intermediate = CertifiedIssuer::signed_by(
                ca_params(format!("kq-sim-intermediate-ca-{cluster}"))?,
                intermediate_key,
                &root,
            )
            .map_err(|e| err("signing the intermediate CA", e))?;
            let leaf = leaf_params(cluster, local_names())?
                .signed_by(&server_key, &intermediate)
                .map_err(|e| err("signing the server certificate", e))?;
            (
                root.pem(),
                vec![leaf.der().clone(), intermediate.der().clone()],
            )
        }
        TlsShape::SelfSignedCa => {
            // What `openssl req -x509 -addext subjectAltName=...` makes: CA:TRUE,
            // no key usage or extended key usage, issuer == subject.
            let mut params = CertificateParams::new(local_names())
                .map_err(|e| err("server certificate names", e))?;
            params
                .distinguished_name
                .push(DnType::CommonName, format!("kq-sim-{cluster}"));
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let cert = params
                .self_signed(&server_key)
                .map_err(|e| err("self-signing the server certificate", e))?;
            (cert.pem(), vec![cert.der().clone()])
        }
    };
    let serving_cert_pem = pem_of(&chain[0]);
    let client_auth = Arc::new(ClientAuth::new(cluster)?);

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("choosing TLS versions", e))?
        .with_client_cert_verifier(Arc::new(DeferredClientAuth(client_auth.verifier.clone())))
        .with_single_cert(chain, key)
        .map_err(|e| err("installing the server certificate", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem,
        serving_cert_pem,
        client_auth,
        server_config: Arc::new(config),
    })
}

/// 128 random bits from the TLS provider's secure random source (the
/// crate's `rand` has no OS source enabled); the clock if that source fails.
pub(crate) fn random_u128() -> u128 {
    let mut buf = [0u8; 16];
    let provider = rustls::crypto::ring::default_provider();
    match provider.secure_random.fill(&mut buf) {
        Ok(()) => u128::from_le_bytes(buf),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(1),
    }
}

fn pem_of(der: &CertificateDer<'_>) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The per-cluster client CA: issues client certificates and authenticates them.
pub(crate) struct ClientAuth {
    ca: CertifiedIssuer<'static, KeyPair>,
    verifier: Arc<dyn ClientCertVerifier>,
}

impl ClientAuth {
    fn new(cluster: &str) -> Result<Self, String> {
        let ca = new_ca(format!("kq-sim-client-ca-{cluster}"))?;
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.der().clone())
            .map_err(|e| err("trusting the client CA", e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| err("building the client certificate verifier", e))?;
        Ok(ClientAuth { ca, verifier })
    }

    /// The client CA certificate (PEM).
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A client certificate (PEM) for the public key of `subject_key_pem` (PKCS#8),
    /// with subject CN `common_name`, extended key usage clientAuth, valid now.
    pub fn issue(&self, common_name: &str, subject_key_pem: &str) -> Result<String, String> {
        let subject_key = KeyPair::from_pem(subject_key_pem).map_err(|e| {
            err(
                "reading the subject key (expected a PKCS#8 \"PRIVATE KEY\" PEM, RSA or EC P-256)",
                e,
            )
        })?;
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| err("client certificate parameters", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        set_validity(
            &mut params,
            Duration::from_secs(3600),
            Validity::LastsFor(Duration::from_secs(365 * 86_400)),
        );
        params.serial_number = Some(SerialNumber::from(random_u128() as u64 >> 1));
        let cert = params
            .signed_by(&subject_key, &self.ca)
            .map_err(|e| err("signing the client certificate", e))?;
        Ok(cert.pem())
    }

    /// The subject common name of a client certificate chain that verifies
    /// against the client CA now; `None` for any other chain.
    pub fn authenticate(&self, chain: &[CertificateDer<'_>]) -> Option<String> {
        let (leaf, intermediates) = chain.split_first()?;
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .ok()?;
        subject_common_name(leaf)
    }
}

/// Requests an optional client certificate and checks only that the client
/// holds its key; the chain is verified per connection (see the module docs).
#[derive(Debug)]
struct DeferredClientAuth(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for DeferredClientAuth {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// One DER element at the start of `input`: (tag, contents, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The subject CN of a DER certificate (the last one, as Go's pkix.Name keeps it).
pub(crate) fn subject_common_name(cert: &[u8]) -> Option<String> {
    let (SEQUENCE, cert, _) = der_element(cert)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der_element(cert)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version, when present.
    if let (0xa0, _, after) = der_element(rest)? {
        rest = after;
    }
    // serialNumber, signature, issuer, validity.
    for _ in 0..4 {
        rest = der_element(rest)?.2;
    }
    let (SEQUENCE, mut rdns, _) = der_element(rest)? else {
        return None;
    };
    let mut common_name = None;
    while !rdns.is_empty() {
        let (SET, mut attributes, after) = der_element(rdns)? else {
            return None;
        };
        rdns = after;
        while !attributes.is_empty() {
            let (SEQUENCE, attribute, after) = der_element(attributes)? else {
                return None;
            };
            attributes = after;
            let (OID, oid, value) = der_element(attribute)? else {
                return None;
            };
            if oid == OID_COMMON_NAME {
                let (tag, text, _) = der_element(value)?;
                // UTF8String, PrintableString, TeletexString, IA5String.
                if matches!(tag, 0x0c | 0x13 | 0x14 | 0x16) {
                    common_name = String::from_utf8(text.to_vec()).ok();
                }
            }
        }
    }
    common_name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der_of(pem: &str) -> Vec<u8> {
        use base64::Engine;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    }

    #[test]
    fn every_shape_generates_a_config_with_alpn() {
        for shape in [
            TlsShape::CaSigned,
            TlsShape::Intermediate,
            TlsShape::SelfSignedCa,
            TlsShape::Expired,
            TlsShape::Hosts(vec!["kubernetes.default.svc".into()]),
        ] {
            let m = generate("t", &shape).unwrap();
            assert!(m.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(
                m.serving_cert_pem
                    .starts_with("-----BEGIN CERTIFICATE-----")
            );
            assert_eq!(m.server_config.alpn_protocols[0], b"h2");
            assert_eq!(
                subject_common_name(&der_of(&m.serving_cert_pem)).as_deref(),
                Some("kq-sim-t")
            );
            assert_eq!(
                m.ca_pem == m.serving_cert_pem,
                shape == TlsShape::SelfSignedCa,
                "{shape:?}"
            );
        }
    }

    #[test]
    fn bad_host_names_are_errors() {
        assert!(generate("t", &TlsShape::Hosts(vec!["bad\u{1f600}".into()])).is_err());
    }

    #[test]
    fn client_certificates_authenticate_only_against_their_own_ca() {
        let auth = ClientAuth::new("a").unwrap();
        let other = ClientAuth::new("b").unwrap();
        let key = KeyPair::generate().unwrap();
        let pem = auth.issue("team-a-reader", &key.serialize_pem()).unwrap();
        let chain = vec![CertificateDer::from(der_of(&pem))];
        assert_eq!(auth.authenticate(&chain).as_deref(), Some("team-a-reader"));
        assert_eq!(other.authenticate(&chain), None);
        assert_eq!(auth.authenticate(&[]), None);
        assert!(auth.issue("x", "not a key").is_err());
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x02, 0x30, 0x00],
        ] {
            assert_eq!(subject_common_name(bad), None);
        }
    }
}
