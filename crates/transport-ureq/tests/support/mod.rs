//! A small scripted HTTP/1.1 server on 127.0.0.1 for the blocking transport's tests: real
//! sockets, one thread per connection, a script of replies, and a record of every request and
//! of when each client closed its connection. (The workspace's full local Messages server, with
//! TLS, HTTP/2 and every fault, is its own crate; these tests need only this much.)

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What to send for one request.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    /// Body pieces, each sent as one chunk after its delay.
    pub(crate) chunks: Vec<(Duration, Vec<u8>)>,
    /// After the last chunk: end the body cleanly, or keep the socket open, silent.
    pub(crate) stall: bool,
    /// After the last chunk: close the connection without ending the chunked body.
    pub(crate) cut: bool,
}

impl Reply {
    /// A 200 event stream of `body`, cut into pieces of `piece` bytes.
    pub(crate) fn sse(body: &[u8], piece: usize) -> Self {
        Self {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/event-stream".into()),
                ("request-id".into(), "req_test".into()),
            ],
            chunks: body
                .chunks(piece.max(1))
                .map(|c| (Duration::ZERO, c.to_vec()))
                .collect(),
            stall: false,
            cut: false,
        }
    }

    /// An API error with the API's JSON shape.
    pub(crate) fn error(status: u16, error_type: &str, extra_headers: &[(&str, &str)]) -> Self {
        let body = format!(
            r#"{{"type":"error","error":{{"type":"{error_type}","message":"scripted {status}"}},"request_id":"req_err"}}"#
        );
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("request-id".to_owned(), format!("req_{status}")),
        ];
        headers.extend(
            extra_headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Self {
            status,
            headers,
            chunks: vec![(Duration::ZERO, body.into_bytes())],
            stall: false,
            cut: false,
        }
    }

    pub(crate) fn then_stall(mut self) -> Self {
        self.stall = true;
        self
    }

    /// Closes the connection after the last chunk, without the end of the chunked body.
    pub(crate) fn then_cut(mut self) -> Self {
        self.cut = true;
        self
    }

    /// A 200 reply with this content type and body.
    pub(crate) fn page(content_type: &str, body: &str) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            chunks: vec![(Duration::ZERO, body.as_bytes().to_vec())],
            stall: false,
            cut: false,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
    pub(crate) at: Instant,
}

#[derive(Clone, Debug)]
pub(crate) struct Connection {
    pub(crate) closed_at: Option<Instant>,
}

#[derive(Default)]
struct Shared {
    script: Vec<Reply>,
    requests: Vec<Request>,
    connections: Vec<Connection>,
}

pub(crate) struct Server {
    pub(crate) base_url: String,
    shared: Arc<Mutex<Shared>>,
}

impl Server {
    /// Starts a server that answers the requests in order with `script` (the last reply
    /// repeats).
    pub(crate) fn start(script: Vec<Reply>) -> Self {
        Self::start_with(script, None)
    }

    /// Starts a server that speaks TLS with a self-signed certificate for `localhost`; returns
    /// it and the certificate (DER) a client must trust.
    pub(crate) fn start_tls(script: Vec<Reply>) -> (Self, Vec<u8>) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = certified.cert.der().to_vec();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.clone())], key)
        .unwrap();
        (Self::start_with(script, Some(Arc::new(config))), cert)
    }

    fn start_with(script: Vec<Reply>, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let base_url = match tls {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let shared = Arc::new(Mutex::new(Shared {
            script,
            ..Shared::default()
        }));
        let accept_shared = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let index = {
                    let mut shared = accept_shared.lock().unwrap();
                    shared.connections.push(Connection { closed_at: None });
                    shared.connections.len() - 1
                };
                let shared = Arc::clone(&accept_shared);
                let tls = tls.clone();
                thread::spawn(move || {
                    let watcher = stream.try_clone().unwrap();
                    match tls {
                        None => serve(stream, Some(watcher), index, &shared),
                        Some(config) => {
                            let conn = rustls::ServerConnection::new(config).unwrap();
                            serve(rustls::StreamOwned::new(conn, stream), None, index, &shared);
                            mark_closed(&shared, index);
                        }
                    }
                });
            }
        });
        Self { base_url, shared }
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.shared.lock().unwrap().requests.clone()
    }

    pub(crate) fn connections(&self) -> Vec<Connection> {
        self.shared.lock().unwrap().connections.clone()
    }

    /// Waits until every accepted connection is closed by the client; returns the latest close.
    pub(crate) fn wait_all_closed(&self, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let conns = self.connections();
            if !conns.is_empty() && conns.iter().all(|c| c.closed_at.is_some()) {
                return conns.iter().filter_map(|c| c.closed_at).max();
            }
            thread::sleep(Duration::from_millis(2));
        }
        None
    }
}

fn serve<S: Read + Write>(
    mut stream: S,
    watcher: Option<TcpStream>,
    index: usize,
    shared: &Arc<Mutex<Shared>>,
) {
    let mut reader = BufReader::new(&mut stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            drop(reader);
            mark_closed(shared, index);
            return;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    drop(reader);
    let reply = {
        let mut shared = shared.lock().unwrap();
        shared.requests.push(Request {
            head,
            body,
            at: Instant::now(),
        });
        let n = shared.requests.len() - 1;
        shared
            .script
            .get(n)
            .or(shared.script.last())
            .cloned()
            .expect("a script")
    };
    // Watch for the client closing while the reply is written (clients send nothing more).
    let closer = watcher.as_ref().and_then(|w| w.try_clone().ok());
    if let Some(mut watcher) = watcher {
        let watch = Arc::clone(shared);
        thread::spawn(move || {
            let mut byte = [0u8; 1];
            let _ = watcher.read(&mut byte);
            mark_closed(&watch, index);
        });
    }
    let mut out = stream;
    let mut response = format!(
        "HTTP/1.1 {} Scripted\r\ntransfer-encoding: chunked\r\nconnection: close\r\n",
        reply.status
    );
    for (k, v) in &reply.headers {
        response += &format!("{k}: {v}\r\n");
    }
    response += "\r\n";
    if out.write_all(response.as_bytes()).is_err() {
        return;
    }
    for (delay, chunk) in &reply.chunks {
        thread::sleep(*delay);
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if out.write_all(&framed).is_err() {
            return;
        }
    }
    if reply.stall {
        thread::sleep(Duration::from_secs(30));
        return;
    }
    if reply.cut {
        let _ = out.flush();
        if let Some(closer) = closer {
            let _ = closer.shutdown(std::net::Shutdown::Both);
        }
        return;
    }
    let _ = out.write_all(b"0\r\n\r\n");
    let _ = out.flush();
}

fn mark_closed(shared: &Arc<Mutex<Shared>>, index: usize) {
    let mut shared = shared.lock().unwrap();
    if let Some(conn) = shared.connections.get_mut(index) {
        conn.closed_at.get_or_insert_with(Instant::now);
    }
}
