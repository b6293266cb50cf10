//! A forward proxy on `127.0.0.1` that speaks HTTP `CONNECT`, for testing clients behind a
//! proxy: it opens a tunnel to the requested host and port and copies bytes both ways, and
//! can require basic credentials (`407` without them). Every `CONNECT` is recorded.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// One `CONNECT` the proxy received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    /// The requested `host:port`.
    pub target: String,
    /// The `Proxy-Authorization` header, if sent.
    pub authorization: Option<String>,
    /// Whether the tunnel was opened (credentials accepted and target reached).
    pub opened: bool,
}

/// A `CONNECT` proxy on `127.0.0.1`. Dropping it stops accepting; open tunnels end with their
/// connections.
///
/// ```
/// use messages_test_server::ForwardProxy;
///
/// let proxy = ForwardProxy::builder().basic_auth("alice", "secret").start();
/// assert!(proxy.url().starts_with("http://127.0.0.1:"));
/// assert!(proxy.connects().is_empty());
/// ```
#[derive(Debug)]
pub struct ForwardProxy {
    addr: SocketAddr,
    connects: Arc<Mutex<Vec<Connect>>>,
    stop: Arc<AtomicBool>,
}

/// Options of a [`ForwardProxy`].
#[derive(Debug, Default)]
#[must_use]
pub struct ForwardProxyBuilder {
    authorization: Option<String>,
}

impl ForwardProxyBuilder {
    /// Requires `Proxy-Authorization: Basic` with these credentials.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        let pair = format!("{user}:{password}");
        self.authorization = Some(format!("Basic {}", STANDARD.encode(pair)));
        self
    }

    /// Starts the proxy.
    ///
    /// # Panics
    ///
    /// When no port on `127.0.0.1` is free.
    #[must_use]
    pub fn start(self) -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let connects = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (Arc::clone(&connects), Arc::clone(&stop));
        let required = self.authorization;
        thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (log, required) = (Arc::clone(&log), required.clone());
                thread::spawn(move || {
                    let _ = serve(client, required.as_deref(), &log);
                });
            }
        });
        ForwardProxy {
            addr,
            connects,
            stop,
        }
    }
}

impl ForwardProxy {
    /// A builder, for a proxy that requires credentials.
    pub fn builder() -> ForwardProxyBuilder {
        ForwardProxyBuilder::default()
    }

    /// Starts a proxy that requires no credentials.
    #[must_use]
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `CONNECT`s received so far, in order.
    ///
    /// # Panics
    ///
    /// If a tunnel thread panicked while recording.
    #[must_use]
    pub fn connects(&self) -> Vec<Connect> {
        self.connects.lock().expect("the log is intact").clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Reads one request head; answers a `CONNECT` by opening the tunnel, anything else with 405.
fn serve(client: TcpStream, required: Option<&str>, log: &Mutex<Vec<Connect>>) -> io::Result<()> {
    // A client that never finishes its request head does not hold a thread for long.
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("proxy-authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    let mut client = client;
    if !method.eq_ignore_ascii_case("CONNECT") {
        return client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
    }
    let mut record = Connect {
        target: target.to_owned(),
        authorization: authorization.clone(),
        opened: false,
    };
    if required.is_some() && authorization.as_deref() != required {
        log.lock().expect("the log is intact").push(record);
        return client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm=\"test\"\r\ncontent-length: 0\r\n\r\n",
        );
    }
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(target)
        .ok()
        .and_then(|mut addrs| {
            addrs.find_map(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok())
        });
    let Some(upstream) = upstream else {
        log.lock().expect("the log is intact").push(record);
        return client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
    };
    record.opened = true;
    log.lock().expect("the log is intact").push(record);
    client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
    client.set_read_timeout(None)?;
    // Bytes the client sent after the head (none for a well-behaved client) go first.
    let early = reader.buffer().to_vec();
    let (mut up_write, mut up_read) = (upstream.try_clone()?, upstream);
    up_write.write_all(&early)?;
    let mut down_write = client.try_clone()?;
    let mut client_read = reader.into_inner();
    // Either side's end ends the tunnel: both sockets shut, so neither copy is left waiting.
    let upward = thread::spawn(move || {
        let _ = io::copy(&mut client_read, &mut up_write);
        let _ = up_write.shutdown(Shutdown::Both);
    });
    let _ = io::copy(&mut up_read, &mut down_write);
    let _ = down_write.shutdown(Shutdown::Both);
    let _ = upward.join();
    Ok(())
}
