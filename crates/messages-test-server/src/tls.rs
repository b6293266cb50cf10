//! The self-signed certificate, and the socket handle used to reset a connection.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::record::HttpVersions;

/// A fresh self-signed certificate for `localhost` and `127.0.0.1` (DER) and an acceptor
/// that serves it, announcing by ALPN the HTTP versions served.
pub(crate) fn self_signed(
    http: HttpVersions,
) -> std::io::Result<(Vec<u8>, tokio_rustls::TlsAcceptor)> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(std::io::Error::other)?;
    let der = certified.cert.der().to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(der.clone())], key)
    .map_err(std::io::Error::other)?;
    config.alpn_protocols = match http {
        HttpVersions::Both => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersions::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersions::Http2 => vec![b"h2".to_vec()],
    };
    Ok((der, tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}

/// A second handle on a socket.
#[cfg(unix)]
pub(crate) type SocketHandle = std::os::fd::OwnedFd;
#[cfg(windows)]
pub(crate) type SocketHandle = std::os::windows::io::OwnedSocket;

#[cfg(unix)]
pub(crate) fn duplicate(tcp: &tokio::net::TcpStream) -> Option<SocketHandle> {
    use std::os::fd::AsFd;
    tcp.as_fd().try_clone_to_owned().ok()
}

#[cfg(windows)]
pub(crate) fn duplicate(tcp: &tokio::net::TcpStream) -> Option<SocketHandle> {
    use std::os::windows::io::AsSocket;
    tcp.as_socket().try_clone_to_owned().ok()
}

/// Makes the socket's close send RST instead of FIN.
pub(crate) fn set_zero_linger(socket: &SocketHandle) {
    let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
}
