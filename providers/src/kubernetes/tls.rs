//! Verifying API servers' certificates with client-go's verdicts.
//!
//! kubectl verifies with Go's crypto/x509; kube-rs with rustls and webpki.
//! They agree on chains, host names and dates, except in one case real
//! clusters meet: Go accepts a presented certificate that is itself in the
//! trust pool as a chain of one (`Certificate.Verify`: "if opts.Roots
//! contains c, the chain is [c]"), whatever its basicConstraints and
//! issuer. So a kubeconfig whose `certificate-authority-data` holds the
//! server's own certificate (a pinned leaf), or a server whose self-signed
//! certificate says CA:TRUE (what `openssl req -x509` makes), works with
//! kubectl, while webpki rejects both (`UnknownIssuer`,
//! `CaUsedAsEndEntity`).
//!
//! [`KubeconfigVerifier`] runs webpki's standard verification first. Only
//! when that fails and the presented end-entity certificate is byte for
//! byte one of the kubeconfig's trusted certificates does it accept the
//! certificate, after the checks Go still applies to such a leaf: its
//! validity period, the host name (subject alternative names, matched as
//! webpki matches them) and, when the certificate restricts its extended
//! key usage, serverAuth among them.
//!
//! Why this is safe: trusting a certificate means trusting its public key,
//! and the handshake signature, which is still verified with that key,
//! proves the server holds the private key. Nothing that was rejected
//! before is accepted except a certificate the user explicitly trusts;
//! a wrong CA, a wrong host name and an expired certificate still fail.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The kubeconfig's trust: its CA certificates as webpki anchors, and the
/// same certificates for the pinned-leaf rule.
#[derive(Debug)]
pub(crate) struct KubeconfigVerifier {
    standard: Arc<WebPkiServerVerifier>,
    trusted: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// Why the kubeconfig's CA data cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("the certificate-authority data holds no certificate")]
    Empty,
    #[error("a certificate in the certificate-authority data is malformed: {0}")]
    Malformed(#[source] rustls::Error),
    #[error("the certificate-authority data cannot be used: {0}")]
    Verifier(#[source] rustls::client::VerifierBuilderError),
}

impl KubeconfigVerifier {
    /// Trusts these DER certificates (the kubeconfig's `certificate-authority`).
    pub(crate) fn new(
        certificates: &[Vec<u8>],
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TrustError> {
        if certificates.is_empty() {
            return Err(TrustError::Empty);
        }
        let trusted: Vec<CertificateDer<'static>> = certificates
            .iter()
            .map(|der| CertificateDer::from(der.clone()))
            .collect();
        let mut roots = RootCertStore::empty();
        for certificate in &trusted {
            roots
                .add(certificate.clone())
                .map_err(TrustError::Malformed)?;
        }
        let algorithms = provider.signature_verification_algorithms;
        let standard = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(TrustError::Verifier)?;
        Ok(Self {
            standard,
            trusted,
            algorithms,
        })
    }

    fn is_trusted(&self, certificate: &CertificateDer<'_>) -> bool {
        self.trusted
            .iter()
            .any(|t| t.as_ref() == certificate.as_ref())
    }
}

impl ServerCertVerifier for KubeconfigVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.standard.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            Err(_) if self.is_trusted(end_entity) => {
                verify_trusted_leaf(end_entity, server_name, now)?;
                Ok(ServerCertVerified::assertion())
            }
            Err(error) => Err(error),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Go's checks on a leaf that is itself trusted: host name, validity
/// period, and extended key usage when the certificate restricts it.
fn verify_trusted_leaf(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
    rustls::client::verify_server_name(&parsed, server_name)?;
    let (_, certificate) = x509_parser::parse_x509_certificate(end_entity.as_ref())
        .map_err(|_| CertificateError::BadEncoding)?;
    let validity = certificate.validity();
    let seconds = |time: &x509_parser::time::ASN1Time| {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(time.timestamp()).unwrap_or(0),
        ))
    };
    let (not_before, not_after) = (seconds(&validity.not_before), seconds(&validity.not_after));
    if now.as_secs() < not_before.as_secs() {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before,
        }
        .into());
    }
    if now.as_secs() > not_after.as_secs() {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after,
        }
        .into());
    }
    if let Ok(Some(usage)) = certificate.extended_key_usage()
        && !(usage.value.server_auth || usage.value.any)
    {
        return Err(CertificateError::InvalidPurpose.into());
    }
    Ok(())
}

/// A rejected server certificate, as a sentence saying what to do.
pub(crate) fn describe_certificate_error(error: &CertificateError) -> String {
    match error {
        CertificateError::UnknownIssuer => {
            "the server's certificate is not signed by the CA in your kubeconfig (certificate-authority or certificate-authority-data); check that the kubeconfig belongs to this cluster, or fetch it again".to_string()
        }
        CertificateError::NotValidForName => {
            "the server's certificate is not valid for the host name in the server URL; use a name the certificate lists, or set tls-server-name in the kubeconfig".to_string()
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = match expected {
                ServerName::DnsName(name) => name.as_ref().to_string(),
                ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                other => format!("{other:?}"),
            };
            let names = if presented.is_empty() {
                "no host names".to_string()
            } else {
                presented
                    .iter()
                    .map(|n| presented_name(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "the server's certificate is not valid for {expected} (it names {names}); use one of those names in the server URL, or set tls-server-name in the kubeconfig"
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            let when = match error {
                CertificateError::ExpiredContext { not_after, .. } => {
                    format!(" on {}", utc(*not_after))
                }
                _ => String::new(),
            };
            format!(
                "the server's certificate expired{when}; the cluster's serving certificate must be renewed (or the machine's clock is wrong)"
            )
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet; check this machine's clock".to_string()
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "the server's certificate is not meant for a TLS server (its extended key usage lacks serverAuth)".to_string()
        }
        CertificateError::BadSignature => {
            "the server's certificate is not signed by the CA in your kubeconfig (another CA with the same name signed it); check that the kubeconfig belongs to this cluster, or fetch it again".to_string()
        }
        CertificateError::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => {
            "the server's certificate is a CA certificate that the kubeconfig does not trust as the server's own".to_string()
        }
        other => format!("the server's certificate was rejected ({other})"),
    }
}

/// webpki reports presented names in Debug form (`DnsName("a.b")`,
/// `IpAddress(10.0.0.1)`); a person wants the name.
fn presented_name(debug: &str) -> &str {
    debug
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            debug
                .strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
        .unwrap_or(debug)
}

fn utc(time: UnixTime) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(time.as_secs()).unwrap_or(i64::MAX), 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{} seconds after 1970", time.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn name(text: &str) -> ServerName<'static> {
        ServerName::try_from(text.to_string()).unwrap()
    }

    fn now() -> UnixTime {
        UnixTime::now()
    }

    /// A self-signed certificate for these names, CA or not.
    fn self_signed(names: &[&str], ca: bool) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_trusted_self_signed_ca_certificate_is_its_own_chain() {
        let leaf = self_signed(&["127.0.0.1", "localhost"], true);
        let verifier = KubeconfigVerifier::new(std::slice::from_ref(&leaf), provider()).unwrap();
        let der = CertificateDer::from(leaf);
        verifier
            .verify_server_cert(&der, &[], &name("127.0.0.1"), &[], now())
            .expect("accepted as its own chain");
        verifier
            .verify_server_cert(&der, &[], &name("localhost"), &[], now())
            .expect("by DNS name too");
        let wrong = verifier
            .verify_server_cert(&der, &[], &name("example.com"), &[], now())
            .unwrap_err();
        assert!(
            matches!(
                wrong,
                rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
            ),
            "the host name is still checked: {wrong:?}"
        );
        let later = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            4_102_444_800 + 24 * 3600, // 2100-01-02
        ));
        let expired = verifier
            .verify_server_cert(&der, &[], &name("localhost"), &[], later)
            .unwrap_err();
        assert!(
            matches!(
                expired,
                rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
            ),
            "validity is still checked: {expired:?}"
        );
    }

    #[test]
    fn an_untrusted_certificate_is_still_refused() {
        let trusted = self_signed(&["localhost"], true);
        let presented = self_signed(&["localhost"], true);
        let verifier = KubeconfigVerifier::new(&[trusted], provider()).unwrap();
        let error = verifier
            .verify_server_cert(
                &CertificateDer::from(presented),
                &[],
                &name("localhost"),
                &[],
                now(),
            )
            .unwrap_err();
        assert!(
            matches!(error, rustls::Error::InvalidCertificate(_)),
            "{error:?}"
        );
    }

    #[test]
    fn errors_read_as_sentences() {
        let text = describe_certificate_error(&CertificateError::UnknownIssuer);
        assert!(
            text.contains("not signed by the CA in your kubeconfig"),
            "{text}"
        );
        let text = describe_certificate_error(&CertificateError::NotValidForNameContext {
            expected: name("10.0.0.1"),
            presented: vec![
                "DnsName(\"kubernetes\")".into(),
                "IpAddress(10.96.0.1)".into(),
            ],
        });
        assert!(text.contains("not valid for 10.0.0.1"), "{text}");
        assert!(text.contains("(it names kubernetes, 10.96.0.1)"), "{text}");
        assert!(text.contains("tls-server-name"), "{text}");
    }
}
