//! A deliberately plain HTTP/1.1 client on `std::net::TcpStream`, so the server is tested
//! by something that is not one of our transports: it writes a request by hand and reads the
//! response head and chunked body byte by byte, keeping each chunk as sent and how the
//! connection ended.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use messages_test_server::Server;

/// A valid Messages request body.
pub(crate) const BODY: &str = r#"{"model":"claude-test","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello"}]}"#;

/// The headers a client of the API sends.
pub(crate) const HEADERS: &[(&str, &str)] = &[
    ("x-api-key", "sk-test"),
    ("anthropic-version", "2023-06-01"),
    ("content-type", "application/json"),
];

/// How a response ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The body ended as the framing says (last chunk, or content-length reached).
    Complete,
    /// The server closed the connection (FIN) before the end of the body.
    Eof,
    /// The connection was reset (RST).
    Reset,
    /// Nothing arrived for the read timeout.
    Timeout,
}

/// A response as read off the socket.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    /// The body's chunks as framed on the wire (one piece for a content-length body).
    pub(crate) chunks: Vec<Vec<u8>>,
    /// When each chunk had arrived whole.
    pub(crate) arrivals: Vec<Instant>,
    pub(crate) end: End,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn body(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body()).into_owned()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body()).expect("a JSON body")
    }
}

/// Connects and sends a request with these headers and body.
pub(crate) fn send(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += &format!("content-length: {}\r\n\r\n{body}", body.len());
    tcp.write_all(request.as_bytes()).unwrap();
    tcp
}

/// Sends a valid streaming request.
pub(crate) fn post(server: &Server) -> TcpStream {
    send(server, "POST", "/v1/messages", HEADERS, BODY)
}

/// Sends a valid request and reads the whole response.
pub(crate) fn exchange(server: &Server) -> Response {
    read_response(&mut post(server))
}

fn classify(error: &io::Error) -> End {
    match error.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => End::Reset,
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => End::Timeout,
        io::ErrorKind::UnexpectedEof => End::Eof,
        other => panic!("unexpected read error {other:?}: {error}"),
    }
}

fn read_byte(r: &mut impl Read) -> Result<u8, End> {
    let mut b = [0u8; 1];
    match r.read(&mut b) {
        Ok(0) => Err(End::Eof),
        Ok(_) => Ok(b[0]),
        Err(e) => Err(classify(&e)),
    }
}

fn read_line(r: &mut impl Read) -> Result<String, End> {
    let mut line = Vec::new();
    loop {
        match read_byte(r)? {
            b'\n' => break,
            b => line.push(b),
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn read_exact(r: &mut impl Read, n: usize) -> Result<Vec<u8>, (Vec<u8>, End)> {
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0u8; n.min(1 << 16)];
    while out.len() < n {
        let want = (n - out.len()).min(buf.len());
        match r.read(&mut buf[..want]) {
            Ok(0) => return Err((out, End::Eof)),
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e) => return Err((out, classify(&e))),
        }
    }
    Ok(out)
}

/// Reads one response: head, then a chunked or content-length body.
pub(crate) fn read_response(r: &mut impl Read) -> Response {
    let status_line = read_line(r).expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    let mut headers = Vec::new();
    loop {
        let line = read_line(r).expect("a header line");
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').expect("a header");
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut response = Response {
        status,
        headers,
        chunks: Vec::new(),
        arrivals: Vec::new(),
        end: End::Complete,
    };
    if let Some(length) = response.header("content-length") {
        let length: usize = length.parse().unwrap();
        match read_exact(r, length) {
            Ok(body) => response.chunks.push(body),
            Err((body, end)) => {
                response.chunks.push(body);
                response.end = end;
            }
        }
        response.arrivals.push(Instant::now());
        return response;
    }
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    loop {
        let size = match read_line(r) {
            Ok(line) => usize::from_str_radix(line.trim(), 16).expect("a chunk size"),
            Err(end) => {
                response.end = end;
                return response;
            }
        };
        if size == 0 {
            let _ = read_line(r);
            return response;
        }
        match read_exact(r, size + 2) {
            Ok(mut chunk) => {
                chunk.truncate(size);
                response.chunks.push(chunk);
                response.arrivals.push(Instant::now());
            }
            Err((mut partial, end)) => {
                partial.truncate(size);
                if !partial.is_empty() {
                    response.chunks.push(partial);
                    response.arrivals.push(Instant::now());
                }
                response.end = end;
                return response;
            }
        }
    }
}

/// The SSE events of a body, split at blank lines (the server's generated streams use LF).
pub(crate) fn events(body: &str) -> Vec<&str> {
    body.split_inclusive("\n\n").collect()
}

/// Accumulates an event stream with the core's accumulator into the final message JSON.
pub(crate) fn accumulate(body: &[u8]) -> serde_json::Value {
    use stream_core::{accumulate::Accumulator, messages::StreamEvent, sse::Decoder};
    let mut decoder = Decoder::new();
    decoder.feed_slice(body);
    decoder.finish();
    let mut accumulator = Accumulator::new();
    while let Some(event) = decoder.next_event().unwrap() {
        let event = StreamEvent::parse(event.event_type(), event.data()).unwrap();
        accumulator.apply(&event).unwrap();
    }
    accumulator.finish().unwrap().to_json()
}
