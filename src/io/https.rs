//! TLS for the HTTPS listener (`ports.https`), with rustls: the certificate and key of
//! `tls.https` (or `tls.defaults`, or the top-level keys); with `verify_incoming`, a client
//! must present a certificate signed by `ca_file`. The acceptor is swapped on reload, so new
//! connections get renewed certificates while open ones keep theirs.

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use super::rpc_tls::{provider, read_certs, read_key};
use crate::config::TlsConfig;

static ACCEPTOR: ArcSwapOption<tokio_rustls::TlsAcceptor> = ArcSwapOption::const_empty();

/// Builds the HTTPS acceptor, or says what is missing or unreadable.
pub fn acceptor(tls: &TlsConfig) -> Result<tokio_rustls::TlsAcceptor, String> {
    let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
        return Err("HTTPS port is set but no cert_file and key_file are provided".into());
    };
    if tls.verify_incoming && tls.ca_file.is_none() {
        return Err("VerifyIncoming set and no CA certificate provided!".into());
    }
    let (policy, versions) = super::rpc_tls::tls_policy(tls)?;
    let builder = rustls::ServerConfig::builder_with_provider(policy)
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?;
    let builder = match (&tls.ca_file, tls.verify_incoming) {
        (Some(ca), true) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca)? {
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(read_certs(cert)?, read_key(key)?)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Makes `acceptor` the one new HTTPS connections use (start, reload).
pub fn install(acceptor: tokio_rustls::TlsAcceptor) {
    ACCEPTOR.store(Some(Arc::new(acceptor)));
}

/// The acceptor in force.
pub fn current() -> Option<Arc<tokio_rustls::TlsAcceptor>> {
    ACCEPTOR.load_full()
}

/// The CLI's TLS to an agent's HTTPS API: the CA that signed the agent's certificate
/// (`-ca-file`, `CONSUL_CACERT`), a client certificate for agents with `verify_incoming`, or
/// no verification at all (`CONSUL_HTTP_SSL_VERIFY=false`).
pub struct ClientTls {
    pub ca_file: Option<std::path::PathBuf>,
    /// `-ca-path` / `CONSUL_CAPATH`: every certificate file in a directory.
    pub ca_path: Option<std::path::PathBuf>,
    pub client_cert: Option<std::path::PathBuf>,
    pub client_key: Option<std::path::PathBuf>,
    pub verify: bool,
}

/// The rustls client configuration for `tls`.
pub fn client_config(tls: &ClientTls) -> Result<Arc<rustls::ClientConfig>, String> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if !tls.verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let mut files: Vec<std::path::PathBuf> = tls.ca_file.iter().cloned().collect();
        if let Some(dir) = &tls.ca_path {
            let mut listed: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            listed.sort();
            files.extend(listed);
        }
        for file in &files {
            for c in read_certs(file)? {
                roots
                    .add(c)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
            }
        }
        if files.is_empty() {
            // No CA given: the public roots, as Go's client falls back to the system's.
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&tls.client_cert, &tls.client_key) {
        (Some(c), Some(k)) => builder
            .with_client_auth_cert(read_certs(c)?, read_key(k)?)
            .map_err(|e| e.to_string())?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("-client-cert and -client-key must be given together".into()),
    };
    Ok(Arc::new(config))
}

/// `CONSUL_HTTP_SSL_VERIFY=false`: any server certificate is accepted (signatures are still
/// checked, so the session is encrypted to whoever holds the key).
#[derive(Debug)]
struct AnyServer;

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
