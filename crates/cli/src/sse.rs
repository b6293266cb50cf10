//! `sse URL`: any SSE endpoint, one JSON object per event (the `decode` format), with
//! `EventSource` reconnection on demand.

use std::io::{IsTerminal, Read, Write};
use std::time::Instant;

use anthropic_stream::{ClientConfig, Error, Reconnect, Request, SseEvent};

use crate::args::{SseArgs, Transport};
use crate::stream::{deadlines, duration_arg, exit_code, header_arg, seconds};
use crate::{exit, usage};

/// Reads the endpoint until it ends, fails, or `--max-events`; returns the exit status.
pub(crate) fn run(args: &SseArgs) -> u8 {
    let request = match request(args) {
        Ok(request) => request,
        Err(code) => return code,
    };
    let config = match deadlines(ClientConfig::new(), &args.deadlines) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let reconnect = match reconnect(args) {
        Ok(reconnect) => reconnect,
        Err(code) => return code,
    };
    let printer = Printer::new(args);
    crate::run_until_interrupted(async move {
        let feed = Feed {
            config,
            request,
            reconnect,
            printer,
        };
        match feed.printer.transport {
            Transport::Hyper => feed.read_async().await,
            Transport::Ureq => tokio::task::spawn_blocking(move || feed.read_blocking())
                .await
                .unwrap_or(exit::TRANSPORT),
        }
    })
}

/// The request of the command line: method, URL, headers, body.
fn request(args: &SseArgs) -> Result<Request, u8> {
    let body = match args.data.as_deref() {
        None => None,
        Some("@-") => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .map_err(|err| usage(&format!("cannot read the body: {err}")))?;
            Some(body)
        }
        Some(data) => match data.strip_prefix('@') {
            Some(file) => Some(
                std::fs::read(file).map_err(|err| usage(&format!("cannot read {file}: {err}")))?,
            ),
            None => Some(data.as_bytes().to_vec()),
        },
    };
    let method = match (&args.method, &body) {
        (Some(method), _) => method.clone(),
        (None, Some(_)) => "POST".to_owned(),
        (None, None) => "GET".to_owned(),
    };
    let mut request = Request::new(method, args.url.clone());
    for header in &args.headers {
        let (name, value) = header_arg(header)?;
        request = request.with_header(name, value);
    }
    if request.header("accept").is_none() {
        request = request.with_header("accept", "text/event-stream");
    }
    if let Some(id) = &args.last_event_id {
        request
            .headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("last-event-id"));
        request = request.with_header("last-event-id", id.clone());
    }
    if let Some(body) = body {
        if request.header("content-type").is_none()
            && serde_json::from_slice::<serde_json::Value>(&body).is_ok()
        {
            request = request.with_header("content-type", "application/json");
        }
        request = request.with_body(body);
    }
    // The URL and the headers are checked where they become an HTTP request.
    request
        .to_http()
        .map_err(|err| usage(&format!("cannot send this request: {err}")))?;
    Ok(request)
}

/// The reconnection policy, when `--reconnect` asks for one.
fn reconnect(args: &SseArgs) -> Result<Option<Reconnect>, u8> {
    if !args.reconnect {
        return Ok(None);
    }
    let mut reconnect = Reconnect::new();
    if let Some(delay) = args.reconnect_delay {
        reconnect = reconnect.delay(duration_arg(delay, "--reconnect-delay")?);
    }
    if let Some(attempts) = args.max_attempts {
        reconnect = reconnect.max_attempts(attempts);
    }
    Ok(Some(reconnect))
}

/// One stream to read, on either transport.
struct Feed {
    config: ClientConfig,
    request: Request,
    reconnect: Option<Reconnect>,
    printer: Printer,
}

/// Whether to read on after an event.
enum Next {
    More,
    /// `--max-events` reached, or standard output closed.
    Stop,
}

impl Feed {
    async fn read_async(mut self) -> u8 {
        let client = anthropic_stream::Client::new(self.config);
        let mut manager = client.sse(self.request);
        if let Some(reconnect) = self.reconnect {
            manager = manager.reconnect(reconnect);
        }
        let mut stream = match manager.enter().await {
            Ok(stream) => stream,
            Err(err) => return self.printer.finish(Some(&err), 0, ""),
        };
        let mut outcome = Ok(());
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    if let Next::Stop = self.printer.event(&event) {
                        break;
                    }
                }
                Err(err) => {
                    outcome = Err(err);
                    break;
                }
            }
        }
        self.printer.finish(
            outcome.as_ref().err(),
            stream.reconnects(),
            stream.last_event_id(),
        )
    }

    fn read_blocking(mut self) -> u8 {
        let client = anthropic_stream::blocking::Client::new(self.config);
        let mut manager = client.sse(self.request);
        if let Some(reconnect) = self.reconnect {
            manager = manager.reconnect(reconnect);
        }
        let mut stream = match manager.enter() {
            Ok(stream) => stream,
            Err(err) => return self.printer.finish(Some(&err), 0, ""),
        };
        let mut outcome = Ok(());
        for event in stream.by_ref() {
            match event {
                Ok(event) => {
                    if let Next::Stop = self.printer.event(&event) {
                        break;
                    }
                }
                Err(err) => {
                    outcome = Err(err);
                    break;
                }
            }
        }
        self.printer.finish(
            outcome.as_ref().err(),
            stream.reconnects(),
            stream.last_event_id(),
        )
    }
}

/// Writes each event as a JSON line as it arrives, then the summary and the exit status.
struct Printer {
    transport: Transport,
    max_events: Option<u64>,
    stats: bool,
    started: Instant,
    events: u64,
    out: std::io::Stdout,
}

impl Printer {
    fn new(args: &SseArgs) -> Self {
        Self {
            transport: args.transport,
            max_events: args.max_events,
            stats: args.stats || std::io::stderr().is_terminal(),
            started: Instant::now(),
            events: 0,
            out: std::io::stdout(),
        }
    }

    fn event(&mut self, event: &SseEvent) -> Next {
        let mut out = self.out.lock();
        let written = serde_json::to_writer(&mut out, &event.to_json())
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if written.is_err() {
            // Standard output is gone (a closed pipe): nobody reads on.
            return Next::Stop;
        }
        self.events += 1;
        if self.max_events.is_some_and(|max| self.events >= max) {
            Next::Stop
        } else {
            Next::More
        }
    }

    fn finish(&self, error: Option<&Error>, reconnects: u32, last_event_id: &str) -> u8 {
        let code = match error {
            None => exit::OK,
            Some(err) => {
                match err.session_error() {
                    Some(session) => {
                        eprintln!("anthropic-stream sse: {}: {session}", session.kind_name());
                    }
                    None => eprintln!("anthropic-stream sse: {err}"),
                }
                exit_code(err)
            }
        };
        if self.stats {
            let mut parts = vec![
                format!("{} events", self.events),
                match reconnects {
                    1 => "1 reconnection".to_owned(),
                    n => format!("{n} reconnections"),
                },
            ];
            if !last_event_id.is_empty() {
                parts.push(format!("last id {last_event_id}"));
            }
            parts.push(format!("{} total", seconds(self.started.elapsed())));
            eprintln!("[{}]", parts.join(" · "));
        }
        code
    }
}
