//! The connector under TLS: straight to the destination, or through an HTTP `CONNECT` tunnel
//! when the core's [`Proxies`] name a proxy for it.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::rt::TokioIo;
use stream_core::proxy::Proxies;
use tokio::net::TcpStream;
use tower_service::Service;

type BoxError = Box<dyn StdError + Send + Sync>;

/// [`HttpConnector`] with the client's proxies.
#[derive(Clone, Debug)]
pub(crate) struct ProxyConnector {
    pub(crate) direct: HttpConnector,
    pub(crate) proxies: Arc<Proxies>,
}

impl Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.direct.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let Some(proxy) = self.proxies.for_url(&dst.to_string()) else {
            let connecting = self.direct.call(dst);
            return Box::pin(async move { Ok(connecting.await?) });
        };
        let tunnel = proxy.uri().parse::<Uri>().map(|uri| {
            let tunnel = Tunnel::new(uri, self.direct.clone());
            match proxy.authorization().map(HeaderValue::try_from) {
                Some(Ok(auth)) => tunnel.with_auth(auth),
                _ => tunnel,
            }
        });
        // The tunnel asks for port 443 when the URL names none: name the scheme's own.
        let port = dst
            .port_u16()
            .unwrap_or(if dst.scheme_str() == Some("http") {
                80
            } else {
                443
            });
        let target = format!("http://{}:{port}/", dst.host().unwrap_or_default()).parse::<Uri>();
        Box::pin(async move { Ok(tunnel?.call(target?).await?) })
    }
}
