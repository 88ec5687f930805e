//! TLS on server RPC (port 8300), with rustls: Consul's `verify_incoming`,
//! `verify_outgoing` and `verify_server_hostname` over our own frames.
//!
//! Every RPC connection starts with one mode byte, as Consul's does (`RPCTLS` = 4): `MODE_TLS`
//! and a TLS handshake follow, or `MODE_PLAIN` and frames in the clear. With
//! `verify_incoming` a server refuses plaintext and any peer without a certificate signed by
//! `ca_file`; with `verify_outgoing` every call and Raft connection is TLS and the server's
//! certificate must chain to `ca_file`; `verify_server_hostname` also requires the name
//! `server.<datacenter>.<domain>` in it (so a client certificate cannot act as a server).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::config::{TlsConfig, RPC_CONNECT_TIMEOUT_MS};

/// First byte of a plaintext RPC connection.
pub const MODE_PLAIN: u8 = b'T';
/// First byte of a TLS RPC connection (Consul's `RPCTLS`).
pub const MODE_TLS: u8 = 4;

/// An RPC connection, in the clear or in TLS.
pub enum RpcStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl AsyncRead for RpcStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RpcStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            RpcStream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for RpcStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            RpcStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            RpcStream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RpcStream::Plain(s) => Pin::new(s).poll_flush(cx),
            RpcStream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            RpcStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            RpcStream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// How this agent speaks RPC: built once from the configuration.
#[derive(Default)]
pub struct RpcTls {
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    connector: Option<tokio_rustls::TlsConnector>,
    server_name: Option<ServerName<'static>>,
    require_incoming: bool,
}

/// The agent's RPC TLS settings; one agent per process, so one value (plaintext until set).
/// Swapped on reload: new connections use the certificates as they are then, open ones keep
/// theirs.
static RPC_TLS: arc_swap::ArcSwapOption<RpcTls> = arc_swap::ArcSwapOption::const_empty();

/// Installs the agent's settings (at start, and on reload).
pub fn install(tls: RpcTls) {
    RPC_TLS.store(Some(Arc::new(tls)));
}

/// The agent's settings (plaintext when none were installed).
pub fn rpc() -> Arc<RpcTls> {
    RPC_TLS
        .load_full()
        .unwrap_or_else(|| Arc::new(RpcTls::default()))
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The provider and protocol versions a listener's settings allow: `tls_min_version`
/// (`TLSv1_0` and `TLSv1_1` are raised to 1.2, the oldest rustls speaks; Consul's own default
/// is 1.2) and `tls_cipher_suites` (TLS 1.2 suites by their IANA names; TLS 1.3's are fixed,
/// as in Go).
pub(crate) fn tls_policy(
    tls: &TlsConfig,
) -> Result<
    (
        Arc<rustls::crypto::CryptoProvider>,
        &'static [&'static rustls::SupportedProtocolVersion],
    ),
    String,
> {
    static ALL: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    static ONLY_13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let versions = match tls.min_version.as_deref() {
        None | Some("") | Some("TLSv1_0" | "TLSv1_1" | "TLSv1_2" | "tls10" | "tls11" | "tls12") => {
            ALL
        }
        Some("TLSv1_3" | "tls13") => ONLY_13,
        Some(other) => {
            return Err(format!(
                "tls_min_version: invalid value {other:?}: must be one of TLSv1_0, TLSv1_1, TLSv1_2, TLSv1_3"
            ))
        }
    };
    let mut provider = rustls::crypto::ring::default_provider();
    if !tls.cipher_suites.is_empty() {
        let known: Vec<String> = provider
            .cipher_suites
            .iter()
            .filter_map(|s| s.suite().as_str().map(str::to_string))
            .collect();
        for name in &tls.cipher_suites {
            if !known.contains(name) {
                return Err(format!(
                    "tls_cipher_suites: unsupported cipher suite {name:?}"
                ));
            }
        }
        provider.cipher_suites.retain(|s| {
            s.version() == &rustls::version::TLS13
                || s.suite()
                    .as_str()
                    .is_some_and(|n| tls.cipher_suites.iter().any(|c| c == n))
        });
    }
    Ok((Arc::new(provider), versions))
}

pub(crate) fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("Failed to parse {}: {e}", path.display()))?;
    match certs.is_empty() {
        true => Err(format!("{}: no certificate in it", path.display())),
        false => Ok(certs),
    }
}

pub(crate) fn read_key(path: &std::path::Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("Failed to parse {}: {e}", path.display()))
}

impl RpcTls {
    /// Builds the settings, or says (as Consul does) what is missing or unreadable.
    pub fn from_config(tls: &TlsConfig, datacenter: &str, domain: &str) -> Result<RpcTls, String> {
        if tls.verify_outgoing && tls.ca_file.is_none() {
            return Err("VerifyOutgoing set and no CA certificate provided!".into());
        }
        if tls.verify_incoming && tls.ca_file.is_none() {
            return Err("VerifyIncoming set and no CA certificate provided!".into());
        }
        if tls.verify_incoming && (tls.cert_file.is_none() || tls.key_file.is_none()) {
            return Err("VerifyIncoming set and no Cert/Key pair provided!".into());
        }
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err("cert_file and key_file must be given together".into());
        }
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &tls.ca_file {
            for cert in read_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", ca.display()))?;
            }
        }
        let roots = Arc::new(roots);
        let pair = match (&tls.cert_file, &tls.key_file) {
            (Some(c), Some(k)) => Some((read_certs(c)?, read_key(k)?)),
            _ => None,
        };
        let err = |e: rustls::Error| e.to_string();
        let mut out = RpcTls {
            require_incoming: tls.verify_incoming,
            ..RpcTls::default()
        };
        if let Some((certs, key)) = &pair {
            let (policy, versions) = tls_policy(tls)?;
            let builder = rustls::ServerConfig::builder_with_provider(policy)
                .with_protocol_versions(versions)
                .map_err(err)?;
            let config = if tls.ca_file.is_some() {
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    roots.clone(),
                    provider(),
                );
                let verifier = match tls.verify_incoming {
                    true => verifier.build(),
                    false => verifier.allow_unauthenticated().build(),
                }
                .map_err(|e| e.to_string())?;
                builder.with_client_cert_verifier(verifier)
            } else {
                builder.with_no_client_auth()
            }
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(err)?;
            out.acceptor = Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)));
        }
        if tls.verify_outgoing {
            let chain =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
                    .build()
                    .map_err(|e| e.to_string())?;
            let (policy, versions) = tls_policy(tls)?;
            let builder = rustls::ClientConfig::builder_with_provider(policy)
                .with_protocol_versions(versions)
                .map_err(err)?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ServerVerifier {
                    chain,
                    check_name: tls.verify_server_hostname,
                }));
            let config = match &pair {
                Some((certs, key)) => builder
                    .with_client_auth_cert(certs.clone(), key.clone_key())
                    .map_err(err)?,
                None => builder.with_no_client_auth(),
            };
            out.connector = Some(tokio_rustls::TlsConnector::from(Arc::new(config)));
            let name = format!("server.{datacenter}.{}", domain.trim_end_matches('.'));
            out.server_name = Some(ServerName::try_from(name).map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    /// True when outgoing RPC uses TLS.
    pub fn outgoing(&self) -> bool {
        self.connector.is_some()
    }

    /// Reads the mode byte and completes TLS if asked; refuses what the settings forbid.
    pub async fn accept(&self, mut s: TcpStream) -> io::Result<RpcStream> {
        let deadline = std::time::Duration::from_millis(RPC_CONNECT_TIMEOUT_MS);
        let mode = tokio::time::timeout(deadline, s.read_u8())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no RPC mode byte"))??;
        match (mode, &self.acceptor) {
            (MODE_PLAIN, _) if self.require_incoming => Err(io::Error::other(
                "plaintext RPC refused: verify_incoming is set",
            )),
            (MODE_PLAIN, _) => Ok(RpcStream::Plain(s)),
            (MODE_TLS, Some(acceptor)) => {
                let tls = tokio::time::timeout(deadline, acceptor.accept(s))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake"))??;
                Ok(RpcStream::Tls(Box::new(tls.into())))
            }
            (MODE_TLS, None) => Err(io::Error::other("TLS RPC refused: no cert_file/key_file")),
            (other, _) => Err(io::Error::other(format!("unknown RPC mode byte {other}"))),
        }
    }

    /// Writes the mode byte and, with `verify_outgoing`, completes a verified TLS handshake.
    pub async fn connect(&self, mut s: TcpStream) -> io::Result<RpcStream> {
        let _ = s.set_nodelay(true);
        match (&self.connector, &self.server_name) {
            (Some(connector), Some(name)) => {
                s.write_all(&[MODE_TLS]).await?;
                let deadline = std::time::Duration::from_millis(RPC_CONNECT_TIMEOUT_MS);
                let tls = tokio::time::timeout(deadline, connector.connect(name.clone(), s))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake"))??;
                Ok(RpcStream::Tls(Box::new(tls.into())))
            }
            _ => {
                s.write_all(&[MODE_PLAIN]).await?;
                Ok(RpcStream::Plain(s))
            }
        }
    }
}

/// The server certificate must chain to `ca_file`; its name is checked only with
/// `verify_server_hostname` (Consul's semantics, which rustls's own verifier cannot express).
#[derive(Debug)]
struct ServerVerifier {
    chain: Arc<rustls::client::WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .chain
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

#[cfg(test)]
mod policy_tests {
    use super::*;

    #[test]
    fn min_version_and_cipher_suites_as_consul_names_them() {
        let with = |min: Option<&str>, suites: &[&str]| TlsConfig {
            min_version: min.map(str::to_string),
            cipher_suites: suites.iter().map(|s| s.to_string()).collect(),
            ..TlsConfig::default()
        };
        let (_, versions) = tls_policy(&with(Some("TLSv1_3"), &[])).unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(tls_policy(&with(Some("TLSv1_0"), &[])).unwrap().1.len(), 2);
        assert!(tls_policy(&with(Some("SSLv3"), &[]))
            .err()
            .unwrap()
            .starts_with("tls_min_version: invalid value"));
        let (provider, _) =
            tls_policy(&with(None, &["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])).unwrap();
        let tls12: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .collect();
        assert_eq!(tls12.len(), 1);
        assert!(tls_policy(&with(None, &["TLS_RSA_WITH_RC4_128_SHA"])).is_err());
    }
}
