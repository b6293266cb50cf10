//! Streaming a reply: the parameters, the client (or the built-in local server), either
//! transport, the output modes, the summary line and the exit status.

use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant};

use anthropic_stream::{
    ClientConfig, Delta, Error, ErrorKind, Message, MessageParam, MessageParams, StreamEvent,
    ndjson,
};
use messages_test_server::{Generate, Reply, Server};

use crate::args::{StreamArgs, Transport};
use crate::{exit, usage};

const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
const DEFAULT_MAX_TOKENS: u32 = 1024;

/// Streams the reply; returns the exit status.
pub(crate) fn run(args: &StreamArgs) -> u8 {
    let params = match params(args) {
        Ok(params) => params,
        Err(code) => return code,
    };
    let (config, _local) = match config(args) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let printer = Printer::new(args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("anthropic-stream: cannot start the async runtime: {err}");
            return exit::TRANSPORT;
        }
    };
    let transport = args.transport;
    runtime.block_on(async move {
        let work = async move {
            match transport {
                Transport::Hyper => stream_async(config, params, printer).await,
                Transport::Ureq => {
                    tokio::task::spawn_blocking(move || stream_blocking(config, params, printer))
                        .await
                        .unwrap_or(exit::TRANSPORT)
                }
            }
        };
        tokio::select! {
            code = work => code,
            _ = tokio::signal::ctrl_c() => interrupted(),
        }
    })
}

/// Ends the process on Ctrl-C. The async stream (and its connection) was dropped with the
/// work it belonged to; a blocking read in progress cannot be interrupted, so the process ends
/// and the system closes its sockets at once.
#[allow(clippy::exit)]
fn interrupted() -> ! {
    let _ = std::io::stdout().flush();
    eprintln!("\nanthropic-stream: interrupted");
    std::process::exit(i32::from(exit::INTERRUPTED))
}

async fn stream_async(config: ClientConfig, params: MessageParams, mut printer: Printer) -> u8 {
    let client = anthropic_stream::Client::new(config);
    let mut stream = match client.messages().stream(params).enter().await {
        Ok(stream) => stream,
        Err(err) => return printer.finish(&Err(err), None),
    };
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => printer.event(&event),
            Err(err) => return printer.finish(&Err(err), stream.request_id()),
        }
    }
    let result = stream.final_message().await;
    printer.finish(&result, stream.request_id())
}

#[allow(clippy::needless_pass_by_value)] // moved into a blocking task
fn stream_blocking(config: ClientConfig, params: MessageParams, mut printer: Printer) -> u8 {
    let client = anthropic_stream::blocking::Client::new(config);
    let mut stream = match client.messages().stream(params).enter() {
        Ok(stream) => stream,
        Err(err) => return printer.finish(&Err(err), None),
    };
    for event in stream.by_ref() {
        match event {
            Ok(event) => printer.event(&event),
            Err(err) => {
                let request_id = stream.request_id().map(str::to_owned);
                return printer.finish(&Err(err), request_id.as_deref());
            }
        }
    }
    let result = stream.final_message();
    let request_id = stream.request_id().map(str::to_owned);
    printer.finish(&result, request_id.as_deref())
}

/// The request: `--params`, then the options, then the prompt (argument or standard input).
fn params(args: &StreamArgs) -> Result<MessageParams, u8> {
    let mut params = match &args.params {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|err| usage(&format!("cannot read {}: {err}", file.display())))?;
            MessageParams::from_json(&text)
                .map_err(|err| usage(&format!("{} is not a request body: {err}", file.display())))?
        }
        None => MessageParams::new(DEFAULT_MODEL, DEFAULT_MAX_TOKENS),
    };
    if let Some(model) = &args.model {
        params.model.clone_from(model);
    }
    if params.model.is_empty() {
        params.model = DEFAULT_MODEL.to_owned();
    }
    if let Some(max_tokens) = args.max_tokens {
        params.max_tokens = max_tokens;
    }
    if let Some(system) = &args.system {
        params = params.system(system.clone());
    }
    if let Some(budget) = args.thinking {
        params = params.thinking(budget);
    }
    let prompt = match &args.prompt {
        Some(prompt) => Some(prompt.clone()),
        None if !std::io::stdin().is_terminal() => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|err| usage(&format!("cannot read the prompt: {err}")))?;
            let text = text.trim_end().to_owned();
            (!text.is_empty()).then_some(text)
        }
        None => None,
    };
    if let Some(prompt) = prompt {
        params = params.message(MessageParam::user(prompt));
    }
    if params.messages.is_empty() {
        return Err(usage(
            "no prompt: give one as an argument, on standard input, or in --params",
        ));
    }
    params
        .validate()
        .map_err(|err| usage(&format!("invalid request: {err}")))?;
    Ok(params)
}

/// The configuration: a replay or the built-in server when asked for or when there is no
/// credential and no base URL; else the environment and `--base-url`.
fn config(args: &StreamArgs) -> Result<(ClientConfig, Option<Server>), u8> {
    let local = |reply: Reply, what: String| -> Result<(ClientConfig, Option<Server>), u8> {
        let server = Server::builder()
            .default_reply(reply)
            .require_auth(false)
            .try_start()
            .map_err(|err| {
                eprintln!("anthropic-stream: cannot start the local server: {err}");
                exit::TRANSPORT
            })?;
        eprintln!(
            "anthropic-stream: {what} from the built-in local server at {}",
            server.base_url()
        );
        let config = ClientConfig::new().base_url(server.base_url());
        Ok((config, Some(server)))
    };
    if let Some(file) = &args.replay {
        let reply = Reply::recorded_file(file)
            .map_err(|err| usage(&format!("cannot read {}: {err}", file.display())))?;
        return local(
            reply.skip_validation(),
            format!("replaying {}", file.display()),
        );
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let has_credential =
        env("ANTHROPIC_API_KEY").is_some() || env("ANTHROPIC_AUTH_TOKEN").is_some();
    if !has_credential && args.base_url.is_none() {
        let reply = Reply::generated(Generate::text(48).delta_len(12))
            .pace_events(Duration::from_millis(15));
        return local(
            reply,
            "no ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN set; streaming a generated reply"
                .to_owned(),
        );
    }
    let base_url = args.base_url.clone();
    let config = ClientConfig::from_lookup(|name| {
        if name == "ANTHROPIC_BASE_URL" {
            base_url.clone()
        } else {
            env(name)
        }
    })
    .map_err(|err| usage(&err.to_string()))?;
    Ok((config, None))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Text,
    Json,
    Final,
}

/// Writes what the mode asks for as events arrive, and the end: the final message, the
/// summary line, the error line.
struct Printer {
    mode: Mode,
    stats: bool,
    started: Instant,
    first_token: Option<Duration>,
    last_text: Option<char>,
    out: std::io::Stdout,
}

impl Printer {
    fn new(args: &StreamArgs) -> Self {
        let mode = if args.json {
            Mode::Json
        } else if args.final_only {
            Mode::Final
        } else {
            Mode::Text
        };
        Self {
            mode,
            stats: args.stats || std::io::stderr().is_terminal(),
            started: Instant::now(),
            first_token: None,
            last_text: None,
            out: std::io::stdout(),
        }
    }

    fn event(&mut self, event: &StreamEvent) {
        if let StreamEvent::ContentBlockDelta { delta, .. } = event {
            if self.first_token.is_none() && !matches!(delta, Delta::Signature(_)) {
                self.first_token = Some(self.started.elapsed());
            }
            if let (Mode::Text, Delta::Text(text)) = (self.mode, delta) {
                let mut out = self.out.lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
                if let Some(last) = text.chars().last() {
                    self.last_text = Some(last);
                }
            }
        }
        if self.mode == Mode::Json {
            let mut out = self.out.lock();
            let _ = ndjson::write(&mut out, event);
            let _ = out.flush();
        }
    }

    fn finish(&mut self, result: &Result<Message, Error>, request_id: Option<&str>) -> u8 {
        let mut out = self.out.lock();
        if self.mode == Mode::Text && self.last_text.is_some_and(|c| c != '\n') {
            let _ = out.write_all(b"\n");
        }
        let code = match result {
            Ok(message) => {
                if self.mode != Mode::Text {
                    let _ = serde_json::to_writer(&mut out, &message.to_json());
                    let _ = out.write_all(b"\n");
                }
                exit::OK
            }
            Err(err) => {
                let _ = out.flush();
                match err.session_error() {
                    Some(session) => {
                        eprintln!("anthropic-stream: {}: {session}", session.kind_name());
                    }
                    None => eprintln!("anthropic-stream: {err}"),
                }
                exit_code(err)
            }
        };
        let _ = out.flush();
        drop(out);
        if self.stats {
            self.summary(result, request_id);
        }
        code
    }

    fn summary(&self, result: &Result<Message, Error>, request_id: Option<&str>) {
        let elapsed = self.started.elapsed();
        let mut parts = Vec::new();
        if let Some(first) = self.first_token {
            parts.push(format!("first token {}", seconds(first)));
        }
        parts.push(format!("{} total", seconds(elapsed)));
        let message = match result {
            Ok(message) => Some(message),
            Err(err) => err.partial_message(),
        };
        if let Some(message) = message {
            let usage = message.usage();
            parts.push(format!(
                "{} in / {} out tokens",
                usage.input_tokens, usage.output_tokens
            ));
            if let Some(reason) = message.stop_reason() {
                parts.push(format!("stop {reason}"));
            }
        }
        let request_id = request_id.or_else(|| {
            result
                .as_ref()
                .err()
                .and_then(Error::session_error)
                .and_then(|s| s.request_id.as_deref())
        });
        if let Some(id) = request_id {
            parts.push(format!("request-id {id}"));
        }
        eprintln!("[{}]", parts.join(" · "));
    }
}

fn seconds(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.2} s", duration.as_secs_f64())
    }
}

/// The exit status of an error, by class.
fn exit_code(err: &Error) -> u8 {
    match err.session_error().map(|s| &s.kind) {
        Some(ErrorKind::Api(_)) => exit::API,
        Some(ErrorKind::Protocol(_)) => exit::PROTOCOL,
        Some(_) => exit::TRANSPORT,
        None => exit::USAGE,
    }
}
