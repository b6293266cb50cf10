//! Drives the Sans-IO core from a loop of your own, over a plain `std::net::TcpStream`, with
//! no transport crate: the session says what to send and when; this loop only moves bytes,
//! reads a clock and honours deadlines (docs/embedding.md walks through it).
//!
//! ```text
//! cargo run -p anthropic-stream --example embed
//! ```
//!
//! It talks HTTP/1.1 in clear text to the local Messages server (started here); TLS, proxies
//! and connection reuse are what the transport crates add.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anthropic_stream::stream_core::session::{AttemptId, Output, Session};
use anthropic_stream::{
    ClientConfig, Delta, MessageParam, MessageParams, Request, StreamEvent, TransportErrorKind,
};
use messages_test_server::{Generate, Reply, Server};

fn main() {
    // The first attempt is overloaded; the session retries after the `retry-after-ms` wait.
    let server = Server::start();
    server
        .enqueue(Reply::error(529).retry_after_ms(200))
        .enqueue(Reply::generated(Generate::text(30)));
    let config = ClientConfig::new()
        .api_key("local-test-key")
        .base_url(server.base_url());
    let params = MessageParams::new("claude-sonnet-4-5", 1024).message(MessageParam::user("Hi"));
    let mut session = Session::new(&config, &params).expect("valid parameters");

    let origin = Instant::now();
    let now = || origin.elapsed();
    session.enter(now()).expect("a fresh session");
    let mut connection: Option<(AttemptId, Body)> = None;

    loop {
        // 1. Do everything the session asks, until it has nothing more to say.
        while let Some(output) = session.poll_output() {
            match output {
                Output::Send { attempt, request } => {
                    eprintln!(
                        "[attempt {}: {} {}]",
                        session.attempts(),
                        request.method,
                        request.url
                    );
                    match send(&request) {
                        Ok((status, headers, body)) => {
                            session.handle_response_head(attempt, now(), status, headers);
                            connection = Some((attempt, body));
                        }
                        Err(err) => session.handle_transport_error(
                            attempt,
                            now(),
                            TransportErrorKind::Connect,
                            &err.to_string(),
                        ),
                    }
                }
                Output::DropConnection { .. } => connection = None,
                Output::Event(StreamEvent::ContentBlockDelta {
                    delta: Delta::Text(text),
                    ..
                }) => print!("{text}"),
                Output::Event(_) | Output::SseEvent(_) | Output::Ended => {}
                Output::Finished(result) => {
                    println!();
                    match result {
                        Ok(message) => eprintln!(
                            "[done: {:?}, {} output tokens, request-id {}]",
                            message.stop_reason(),
                            message.usage().output_tokens,
                            session.request_id().unwrap_or("-")
                        ),
                        Err(err) => eprintln!("[failed: {err}]"),
                    }
                    return;
                }
                _ => {}
            }
        }
        // 2. Wait for the one thing the session needs: bytes, or its next deadline.
        let deadline = session.poll_timeout();
        match connection.as_mut() {
            Some((attempt, body)) => {
                let wait = deadline.map(|d| d.saturating_sub(now()).max(Duration::from_millis(1)));
                let attempt = *attempt;
                match body.read_chunk(wait) {
                    Ok(Some(bytes)) => session.handle_body(attempt, now(), bytes),
                    Ok(None) => {
                        session.handle_end(attempt, now());
                        connection = None;
                    }
                    Err(err)
                        if err.kind() == io::ErrorKind::WouldBlock
                            || err.kind() == io::ErrorKind::TimedOut =>
                    {
                        session.handle_timeout(now());
                    }
                    Err(err) => {
                        session.handle_transport_error(
                            attempt,
                            now(),
                            TransportErrorKind::Reset,
                            &err.to_string(),
                        );
                        connection = None;
                    }
                }
            }
            None => {
                // Nothing to read: sleep out a backoff until the session's deadline.
                if let Some(deadline) = deadline {
                    std::thread::sleep(deadline.saturating_sub(now()));
                }
                session.handle_timeout(now());
            }
        }
    }
}

/// A response head and its body.
type Response = (u16, Vec<(String, String)>, Body);

/// Sends one request over a new connection; returns the status, the headers and the body.
fn send(request: &Request) -> io::Result<Response> {
    let rest = request
        .url
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::other("http only"))?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let mut tcp = TcpStream::connect(authority)?;
    let mut head = format!(
        "{} {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n",
        request.method
    );
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {}\r\n", value.as_str()));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", request.body.len()));
    tcp.write_all(head.as_bytes())?;
    tcp.write_all(&request.body)?;

    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other("no status"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok());
    Ok((
        status,
        headers,
        Body {
            reader,
            chunked,
            left: if chunked {
                0
            } else {
                length.unwrap_or(u64::MAX)
            },
            done: false,
        },
    ))
}

/// A response body, de-chunked as it is read.
struct Body {
    reader: BufReader<TcpStream>,
    chunked: bool,
    /// Bytes left in the current chunk (or in the whole body without chunking).
    left: u64,
    done: bool,
}

impl Body {
    /// The next piece of the body, `None` at its end; `wait` bounds the wait for it.
    fn read_chunk(&mut self, wait: Option<Duration>) -> io::Result<Option<Vec<u8>>> {
        self.reader.get_ref().set_read_timeout(wait)?;
        if self.done {
            return Ok(None);
        }
        if self.chunked && self.left == 0 {
            let mut size = String::new();
            self.reader.read_line(&mut size)?;
            if size.is_empty() {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            let size = size.trim().split(';').next().unwrap_or("");
            self.left = u64::from_str_radix(size, 16).map_err(io::Error::other)?;
            if self.left == 0 {
                self.done = true;
                return Ok(None);
            }
        }
        let mut buf = vec![0; usize::try_from(self.left.min(16 * 1024)).unwrap_or(16 * 1024)];
        let n = self.reader.read(&mut buf)?;
        if n == 0 {
            return if self.chunked {
                Err(io::Error::from(io::ErrorKind::UnexpectedEof))
            } else {
                Ok(None)
            };
        }
        buf.truncate(n);
        self.left -= n as u64;
        if self.chunked && self.left == 0 {
            let mut crlf = [0; 2];
            self.reader.read_exact(&mut crlf)?;
        }
        Ok(Some(buf))
    }
}
