//! Which proxy a request goes through, decided once for both transports.
//!
//! [`Proxies`] holds a proxy for `http://` URLs, one for `https://` URLs, and the exceptions
//! (`NO_PROXY`); [`Proxies::for_url`] answers for one URL. The transports connect through the
//! answer with an HTTP `CONNECT` tunnel (for both schemes: TLS stays end to end for `https`,
//! and a proxy never sees a request it could rewrite), sending `Proxy-Authorization: Basic`
//! when the proxy URL has credentials.
//!
//! The environment is read as curl, Python's `requests` and reqwest read it: `https_proxy`
//! (then `HTTPS_PROXY`) for `https://` URLs, `http_proxy` (then `HTTP_PROXY`) for `http://`
//! URLs, `all_proxy` (then `ALL_PROXY`) for both when the scheme's own is unset, and
//! `no_proxy` (then `NO_PROXY`) for the exceptions: a comma-separated list of host names
//! (matching the name and its subdomains; a leading `.` or `*.` is allowed), IP addresses,
//! CIDR blocks (`10.0.0.0/8`), or `*` for every host. Loopback destinations (`localhost`,
//! `127.0.0.0/8`, `::1`) never go through a proxy the environment names, as in Go's
//! `ProxyFromEnvironment`: a local server stays reachable behind a corporate proxy. When
//! `REQUEST_METHOD` is set (a CGI program), the upper-case `HTTP_PROXY` is ignored: there it is
//! a request header a client controls ("httpoxy"). Only `http://` proxies are supported (a URL
//! with no scheme is taken as `http://`): an `https://` or `socks` proxy in `HTTPS_PROXY` or
//! `HTTP_PROXY` is a typed error, and one in `ALL_PROXY` (often a SOCKS proxy for other tools)
//! is left alone.
//!
//! ```
//! use stream_core::proxy::Proxies;
//!
//! let env = |name: &str| match name {
//!     "HTTPS_PROXY" => Some("http://user:pa%40ss@proxy.corp:3128".to_owned()),
//!     "NO_PROXY" => Some("localhost,.internal.corp,10.0.0.0/8".to_owned()),
//!     _ => None,
//! };
//! let proxies = Proxies::from_lookup(env)?;
//! let proxy = proxies.for_url("https://api.anthropic.com/v1/messages").expect("proxied");
//! assert_eq!((proxy.host(), proxy.port()), ("proxy.corp", 3128));
//! assert_eq!(proxy.authorization().as_deref(), Some("Basic dXNlcjpwYUBzcw==")); // user:pa@ss
//! assert!(proxies.for_url("https://billing.internal.corp/").is_none());
//! assert!(proxies.for_url("https://10.1.2.3:8443/").is_none());
//! assert!(proxies.for_url("http://example.com/").is_none()); // no HTTP_PROXY
//! # Ok::<(), stream_core::request::ConfigError>(())
//! ```

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

use crate::request::{ConfigError, Secret};

/// One HTTP proxy: its host and port, and basic credentials if any.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    host: String,
    port: u16,
    credentials: Option<(String, Secret)>,
}

impl fmt::Debug for Proxy {
    /// The password is redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl Proxy {
    /// A proxy from its URL: `http://[user[:password]@]host[:port][/]`, or the same without
    /// `http://`. The port defaults to 80; user and password are percent-decoded.
    ///
    /// ```
    /// use stream_core::proxy::Proxy;
    ///
    /// let proxy = Proxy::new("http://alice:s%3Acret@[::1]:8080")?;
    /// assert_eq!((proxy.host(), proxy.port()), ("::1", 8080));
    /// assert_eq!(proxy.uri(), "http://[::1]:8080");
    /// assert!(Proxy::new("socks5://proxy:1080").is_err());
    /// # Ok::<(), stream_core::request::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for another scheme, a missing host, a bad port or a path.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let invalid = |why: &str| ConfigError::Invalid(format!("proxy `{url}`: {why}"));
        let url = url.trim();
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(invalid(&format!(
                    "the `{scheme}` scheme is not supported (only http:// proxies)"
                )));
            }
            None => url,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(invalid("a proxy URL has no path"));
        }
        let (userinfo, authority) = match rest.rsplit_once('@') {
            Some((userinfo, authority)) => (Some(userinfo), authority),
            None => (None, rest),
        };
        let (host, port) = split_host_port(authority).ok_or_else(|| invalid("bad host or port"))?;
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let credentials = userinfo.map(|userinfo| {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (percent_decode(user), Secret::new(percent_decode(password)))
        });
        Ok(Self {
            host: host.to_owned(),
            port: port.unwrap_or(80),
            credentials,
        })
    }

    /// Sets basic credentials (replacing any from the URL).
    #[must_use]
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), Secret::new(password)));
        self
    }

    /// The host (an IPv6 address without brackets).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://host:port`, without credentials: where a transport connects.
    #[must_use]
    pub fn uri(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }

    /// The user and password, if any (for a transport that takes them apart).
    #[must_use]
    pub fn credentials(&self) -> Option<(&str, &str)> {
        let (user, password) = self.credentials.as_ref()?;
        Some((user, password.expose()))
    }

    /// The `Proxy-Authorization` value (`Basic base64(user:password)`) when the proxy has
    /// credentials.
    #[must_use]
    pub fn authorization(&self) -> Option<String> {
        use base64::Engine as _;
        let (user, password) = self.credentials.as_ref()?;
        let pair = format!("{user}:{}", password.expose());
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }
}

/// Which proxy each URL goes through: see the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proxies {
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: Vec<Exception>,
}

/// One `NO_PROXY` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Exception {
    /// `*`: every host.
    All,
    /// A host name (lower case) and its subdomains.
    Domain(String),
    /// An address and the number of leading bits that must match (all of them for a plain
    /// address).
    Network(IpAddr, u8),
}

impl Proxies {
    /// No proxy: every request goes direct.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// One proxy for every URL (both schemes).
    #[must_use]
    pub fn all(proxy: Proxy) -> Self {
        Self {
            http: Some(proxy.clone()),
            https: Some(proxy),
            no_proxy: Vec::new(),
        }
    }

    /// The proxy for `http://` URLs.
    #[must_use]
    pub fn http(mut self, proxy: Proxy) -> Self {
        self.http = Some(proxy);
        self
    }

    /// The proxy for `https://` URLs.
    #[must_use]
    pub fn https(mut self, proxy: Proxy) -> Self {
        self.https = Some(proxy);
        self
    }

    /// Adds exceptions, in `NO_PROXY` syntax (comma-separated; see the [module docs](self)).
    ///
    /// ```
    /// use stream_core::proxy::{Proxies, Proxy};
    ///
    /// let proxies = Proxies::all(Proxy::new("proxy:3128")?).no_proxy("localhost, 127.0.0.1, ::1");
    /// assert!(proxies.for_url("http://localhost:8080/v1/messages").is_none());
    /// assert!(proxies.for_url("http://[::1]:8080/").is_none());
    /// assert!(proxies.for_url("https://api.anthropic.com/").is_some());
    /// # Ok::<(), stream_core::request::ConfigError>(())
    /// ```
    #[must_use]
    pub fn no_proxy(mut self, list: &str) -> Self {
        self.no_proxy
            .extend(list.split(',').filter_map(Exception::parse));
        self
    }

    /// The proxies the environment names (see the [module docs](self)), read through
    /// `lookup`; empty values count as unset.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the variable whose proxy URL is not usable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |names: [&'static str; 2]| {
            names.into_iter().find_map(|name| {
                lookup(name)
                    .filter(|value| !value.trim().is_empty())
                    .map(|value| (name, value))
            })
        };
        let parse = |(name, value): (&str, String)| {
            Proxy::new(&value).map_err(|err| ConfigError::Invalid(format!("{name}: {err}")))
        };
        let proxy = |names| var(names).map(parse).transpose();
        // `ALL_PROXY` often names a SOCKS proxy for other tools: one of another scheme is left
        // to them (requests go direct) rather than failing.
        let all = var(["all_proxy", "ALL_PROXY"])
            .filter(|(_, value)| {
                let scheme = value.split_once("://").map(|(scheme, _)| scheme);
                scheme.is_none_or(|scheme| scheme.eq_ignore_ascii_case("http"))
            })
            .map(parse)
            .transpose()?;
        // Under CGI, `HTTP_PROXY` is a request header the client controls ("httpoxy"): only
        // the lower-case name counts there.
        let cgi = lookup("REQUEST_METHOD").is_some();
        let http = if cgi {
            proxy(["http_proxy", "http_proxy"])?
        } else {
            proxy(["http_proxy", "HTTP_PROXY"])?
        }
        .or_else(|| all.clone());
        let https = proxy(["https_proxy", "HTTPS_PROXY"])?.or(all);
        let proxies = Self {
            http,
            https,
            no_proxy: Vec::new(),
        }
        .no_proxy("localhost,127.0.0.0/8,::1,::ffff:127.0.0.0/104");
        Ok(match var(["no_proxy", "NO_PROXY"]) {
            Some((_, list)) => proxies.no_proxy(&list),
            None => proxies,
        })
    }

    /// The proxy for `url`, or `None` to go direct (no proxy for its scheme, or an
    /// exception matches its host).
    #[must_use]
    pub fn for_url(&self, url: &str) -> Option<&Proxy> {
        let (scheme, rest) = url.split_once("://")?;
        let proxy = if scheme.eq_ignore_ascii_case("https") {
            self.https.as_ref()
        } else if scheme.eq_ignore_ascii_case("http") {
            self.http.as_ref()
        } else {
            None
        }?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let (host, _) = split_host_port(authority)?;
        let host = host.to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        let excepted = self
            .no_proxy
            .iter()
            .any(|exception| exception.matches(host));
        (!excepted).then_some(proxy)
    }

    /// Whether no URL goes through a proxy.
    #[must_use]
    pub fn is_none(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }
}

impl Exception {
    fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim();
        if entry.is_empty() {
            return None;
        }
        if entry == "*" {
            return Some(Self::All);
        }
        if let Some((address, bits)) = entry.split_once('/') {
            let address: IpAddr = address.parse().ok()?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let bits: u8 = bits.parse().ok().filter(|bits| *bits <= max)?;
            return Some(Self::Network(address, bits));
        }
        let host = entry.trim_start_matches('[');
        let host = host.split(']').next().unwrap_or(host);
        if let Ok(address) = host.parse::<IpAddr>() {
            let bits = if address.is_ipv4() { 32 } else { 128 };
            return Some(Self::Network(address, bits));
        }
        // A port after a name is ignored, as curl does.
        let name = entry.split(':').next().unwrap_or(entry);
        let name = name.trim_start_matches('*').trim_start_matches('.');
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        (!name.is_empty()).then_some(Self::Domain(name))
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::All => true,
            Self::Domain(name) => {
                host == name
                    || host
                        .strip_suffix(name.as_str())
                        .is_some_and(|head| head.ends_with('.'))
            }
            Self::Network(network, bits) => host
                .parse::<IpAddr>()
                .is_ok_and(|address| in_network(address, *network, *bits)),
        }
    }
}

/// Whether the first `bits` bits of `address` and `network` agree (same family only).
fn in_network(address: IpAddr, network: IpAddr, bits: u8) -> bool {
    let (a, n, width) = match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(a.to_bits()), u128::from(n.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (a.to_bits(), n.to_bits(), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= width || (a >> shift) == (n >> shift)
}

/// `host[:port]` or `[v6]:port` into the host (no brackets) and the port.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(port) => Some(port.parse().ok()?),
            None if tail.is_empty() => None,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port.parse().ok()?))),
        Some(_) => Some((authority, None)), // a bare IPv6 address
        None => Some((authority, None)),
    }
}

/// `%XX` escapes decoded (invalid ones kept as they are; invalid UTF-8 replaced).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            // Two hex digits: at most 0xFF.
            out.push(u8::try_from(high * 16 + low).unwrap_or(b'%'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn lower_case_wins_and_all_proxy_fills_in() {
        let proxies = Proxies::from_lookup(env(&[
            ("https_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://upper:2"),
            ("ALL_PROXY", "http://all:3"),
        ]))
        .unwrap();
        assert_eq!(
            proxies.for_url("https://a.example/").unwrap().host(),
            "lower"
        );
        assert_eq!(proxies.for_url("http://a.example/").unwrap().host(), "all");
        assert!(proxies.for_url("ftp://a.example/").is_none());
        for local in [
            "http://localhost:8080/",
            "https://127.0.0.1/",
            "http://[::1]:9/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(proxies.for_url(local).is_none(), "{local} goes direct");
        }
        let explicit = Proxies::all(Proxy::new("p:1").unwrap());
        assert!(explicit.for_url("http://127.0.0.1:8080/").is_some());
    }

    #[test]
    fn an_unusable_proxy_names_its_variable() {
        let err = Proxies::from_lookup(env(&[("HTTP_PROXY", "socks5://x:1")])).unwrap_err();
        assert!(err.to_string().contains("HTTP_PROXY"), "{err}");
        // A SOCKS ALL_PROXY is someone else's: requests go direct, nothing fails.
        let socks = Proxies::from_lookup(env(&[("ALL_PROXY", "socks5://x:1")])).unwrap();
        assert!(socks.is_none());
        // Under CGI the upper-case HTTP_PROXY is a client's header, not configuration.
        let cgi = env(&[("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "http://evil:1")]);
        assert!(
            Proxies::from_lookup(cgi)
                .unwrap()
                .for_url("http://backend/")
                .is_none()
        );
        for bad in [
            "http://",
            "http://host:port",
            "http://host:1/path",
            "https://h:1",
        ] {
            assert!(Proxy::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exceptions_match_names_subdomains_addresses_and_networks() {
        let proxies = Proxies::all(Proxy::new("p:1").unwrap()).no_proxy(
            "example.com, .corp, *.lan, 192.168.0.0/16, fd00::/8, 127.0.0.1, [::1], name:8080",
        );
        let direct = [
            "http://example.com/",
            "http://EXAMPLE.com./x",
            "http://api.example.com:8443/",
            "http://a.b.corp/",
            "http://printer.lan/",
            "http://192.168.4.5/",
            "http://[fd12::1]:80/",
            "http://127.0.0.1:9/",
            "http://[::1]/",
            "http://name/",
            "http://user:pw@example.com/",
        ];
        for url in direct {
            assert!(proxies.for_url(url).is_none(), "{url} goes direct");
        }
        let proxied = [
            "http://notexample.com/",
            "http://example.com.evil/",
            "http://192.169.0.1/",
            "http://127.0.0.2/",
            "http://[fe80::1]/",
        ];
        for url in proxied {
            assert!(proxies.for_url(url).is_some(), "{url} is proxied");
        }
        let star = Proxies::all(Proxy::new("p:1").unwrap()).no_proxy("*");
        assert!(star.for_url("https://anything/").is_none());
    }

    #[test]
    fn credentials_are_decoded_encoded_and_redacted() {
        let proxy = Proxy::new("http://u%20ser:p%3Aw@h").unwrap();
        assert_eq!(proxy.port(), 80);
        assert_eq!(proxy.authorization().unwrap(), "Basic dSBzZXI6cDp3"); // "u ser:p:w"
        assert!(!format!("{proxy:?}").contains("p:w"));
        assert_eq!(Proxy::new("h:1").unwrap().authorization(), None);
        let proxy = Proxy::new("h:1").unwrap().basic_auth("a", "b");
        assert_eq!(proxy.authorization().unwrap(), "Basic YTpi");
    }
}
