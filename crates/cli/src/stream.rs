//! Streaming a reply: the parameters, the client (or the built-in local server), either
//! transport, the output modes, the summary line and the exit status.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anthropic_stream::{
    ClientConfig, ContentBlock, Delta, Error, ErrorKind, Message, MessageParam, MessageParams,
    StreamEvent, Tool, ToolChoice, ndjson,
};
use messages_test_server::{Reply, Server};

use crate::args::{DeadlineArgs, ProviderArg, StreamArgs, Transport};
use crate::{exit, usage};

const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// The default model's id on Bedrock (its cross-region inference profile) and on Vertex AI.
const DEFAULT_BEDROCK_MODEL: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const DEFAULT_VERTEX_MODEL: &str = "claude-sonnet-4-5@20250929";
const DEFAULT_MAX_TOKENS: u32 = 1024;

/// Streams the reply; returns the exit status.
pub(crate) fn run(args: &StreamArgs) -> u8 {
    let params = match params(args) {
        Ok(params) => params,
        Err(code) => return code,
    };
    let (config, _local) = match config(args)
        .and_then(|(config, local)| Ok((connection_options(config, args)?, local)))
    {
        Ok(found) => found,
        Err(code) => return code,
    };
    let printer = Printer::new(args);
    let transport = args.transport;
    crate::run_until_interrupted(async move {
        match transport {
            Transport::Hyper => stream_async(config, params, printer).await,
            Transport::Ureq => {
                tokio::task::spawn_blocking(move || stream_blocking(config, params, printer))
                    .await
                    .unwrap_or(exit::TRANSPORT)
            }
        }
    })
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
        None => MessageParams::new("", DEFAULT_MAX_TOKENS),
    };
    if let Some(model) = &args.model {
        params.model.clone_from(model);
    }
    if params.model.is_empty() {
        params.model = match args.provider {
            ProviderArg::Anthropic => DEFAULT_MODEL,
            ProviderArg::Bedrock => DEFAULT_BEDROCK_MODEL,
            ProviderArg::Vertex => DEFAULT_VERTEX_MODEL,
        }
        .to_owned();
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
    if let Some(temperature) = args.temperature {
        params = params.temperature(temperature);
    }
    if let Some(top_p) = args.top_p {
        params = params.top_p(top_p);
    }
    if let Some(top_k) = args.top_k {
        params = params.top_k(top_k);
    }
    params.stop_sequences.extend(args.stop.iter().cloned());
    if let Some(file) = &args.tools {
        params.tools.extend(tools(file)?);
    }
    if let Some(choice) = &args.tool_choice {
        params = params.tool_choice(match choice.as_str() {
            "auto" => ToolChoice::Auto {
                disable_parallel_tool_use: None,
            },
            "any" => ToolChoice::Any {
                disable_parallel_tool_use: None,
            },
            "none" => ToolChoice::None,
            name => ToolChoice::Tool {
                name: name.to_owned(),
                disable_parallel_tool_use: None,
            },
        });
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

/// The tools of a `--tools` file: an array of tool definitions, or an object with a `tools`
/// array (a request body will do).
fn tools(file: &Path) -> Result<Vec<Tool>, u8> {
    let text = std::fs::read_to_string(file)
        .map_err(|err| usage(&format!("cannot read {}: {err}", file.display())))?;
    let mut value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|err| usage(&format!("{} is not JSON: {err}", file.display())))?;
    if let Some(tools) = value.get_mut("tools") {
        value = tools.take();
    }
    serde_json::from_value(value).map_err(|err| {
        usage(&format!(
            "{} is not a list of tools (each with a name): {err}",
            file.display()
        ))
    })
}

/// The connection options of the command line over a configuration.
fn connection_options(mut config: ClientConfig, args: &StreamArgs) -> Result<ClientConfig, u8> {
    for beta in &args.betas {
        config = config.beta(beta.clone());
    }
    for header in &args.headers {
        let (name, value) = header_arg(header)?;
        config = config.header(name, value);
    }
    if let Some(version) = &args.api_version {
        config.api_version.clone_from(version);
    }
    deadlines(config, &args.deadlines)
}

/// The total and idle deadlines and the retries of the command line over a configuration.
pub(crate) fn deadlines(mut config: ClientConfig, args: &DeadlineArgs) -> Result<ClientConfig, u8> {
    if let Some(total) = args.timeout {
        config.timeouts.total = Some(duration_arg(total, "--timeout")?);
    }
    if let Some(idle) = args.idle_timeout {
        config.timeouts.idle = duration_arg(idle, "--idle-timeout")?;
    }
    if let Some(retries) = args.max_retries {
        config = config.max_retries(retries);
    }
    Ok(config)
}

/// A duration option in seconds: positive and at most a year (any longer is no deadline, and
/// would overflow the clock's arithmetic).
pub(crate) fn duration_arg(value: f64, option: &str) -> Result<Duration, u8> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(365 * 24 * 3600))
        .ok_or_else(|| {
            usage(&format!(
                "{option} must be a positive number of seconds (at most a year)"
            ))
        })
}

/// A `-H 'Name: value'` option: the name (a token, in lower case) and the trimmed value.
pub(crate) fn header_arg(header: &str) -> Result<(String, String), u8> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    header
        .split_once(':')
        .filter(|(name, _)| !name.trim().is_empty() && name.trim().chars().all(token))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .ok_or_else(|| usage(&format!("--header {header:?} is not 'Name: value'")))
}

/// The configuration: a replay or the built-in server when asked for or when there is no
/// credential for the provider and no base URL; else the environment and the options.
fn config(args: &StreamArgs) -> Result<(ClientConfig, Option<Server>), u8> {
    if args.provider == ProviderArg::Anthropic {
        for (given, option) in [(&args.region, "--region"), (&args.project, "--project")] {
            if given.is_some() {
                return Err(usage(&format!(
                    "{option} needs --provider bedrock or --provider vertex"
                )));
            }
        }
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // The options over the environment, as the provider's configuration reads it.
    let lookup = |name: &str| {
        let option = match name {
            "ANTHROPIC_BASE_URL" | "ANTHROPIC_BEDROCK_BASE_URL" | "ANTHROPIC_VERTEX_BASE_URL" => {
                &args.base_url
            }
            "AWS_REGION" | "CLOUD_ML_REGION" => &args.region,
            "ANTHROPIC_VERTEX_PROJECT_ID" => &args.project,
            _ => &None,
        };
        option.clone().or_else(|| env(name))
    };
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
        let config = local_config(args.provider, &lookup).base_url(server.base_url());
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
    let (has_credential, wanted) = match args.provider {
        ProviderArg::Anthropic => (
            env("ANTHROPIC_API_KEY").is_some() || env("ANTHROPIC_AUTH_TOKEN").is_some(),
            "no ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN",
        ),
        ProviderArg::Bedrock => (
            env("AWS_BEARER_TOKEN_BEDROCK").is_some()
                || (env("AWS_ACCESS_KEY_ID").is_some() && env("AWS_SECRET_ACCESS_KEY").is_some()),
            "no AWS credentials",
        ),
        ProviderArg::Vertex => (
            env("ANTHROPIC_VERTEX_ACCESS_TOKEN").is_some(),
            "no ANTHROPIC_VERTEX_ACCESS_TOKEN",
        ),
    };
    let base_url = match args.provider {
        ProviderArg::Anthropic => lookup("ANTHROPIC_BASE_URL"),
        ProviderArg::Bedrock => lookup("ANTHROPIC_BEDROCK_BASE_URL"),
        ProviderArg::Vertex => lookup("ANTHROPIC_VERTEX_BASE_URL"),
    };
    if !has_credential && base_url.is_none() {
        let reply = Reply::answer().pace_events(Duration::from_millis(15));
        let path = match args.provider {
            ProviderArg::Anthropic => "",
            ProviderArg::Bedrock => " over Bedrock's API (signed, event-stream framed)",
            ProviderArg::Vertex => " over Vertex AI's API",
        };
        return local(reply, format!("{wanted} set; streaming a reply{path}"));
    }
    let config = match args.provider {
        ProviderArg::Anthropic => ClientConfig::from_lookup(lookup),
        ProviderArg::Bedrock => anthropic_stream::bedrock::config_from_lookup(lookup),
        ProviderArg::Vertex => anthropic_stream::vertex::config_from_lookup(lookup),
    }
    .map_err(|err| usage(&err.to_string()))?;
    Ok((config, None))
}

/// The configuration for the built-in server in the provider's shape: Bedrock's path signed
/// with credentials of no account (the server checks the signature's form), Vertex AI's with
/// a token of none.
fn local_config(provider: ProviderArg, lookup: &dyn Fn(&str) -> Option<String>) -> ClientConfig {
    match provider {
        ProviderArg::Anthropic => ClientConfig::new(),
        ProviderArg::Bedrock => {
            let region = lookup("AWS_REGION").unwrap_or_else(|| "us-east-1".to_owned());
            let credentials =
                anthropic_stream::bedrock::AwsCredentials::new("AKIDLOCALSERVER", "local-secret");
            anthropic_stream::bedrock::config(&region, credentials)
        }
        ProviderArg::Vertex => {
            let project =
                lookup("ANTHROPIC_VERTEX_PROJECT_ID").unwrap_or_else(|| "local-project".to_owned());
            let region = lookup("CLOUD_ML_REGION").unwrap_or_else(|| "us-east5".to_owned());
            ClientConfig::new()
                .provider(anthropic_stream::Provider::vertex(project, region))
                .auth_token("local-token")
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Text,
    Json,
    Final,
}

/// What text mode remembers of an open block.
#[derive(Debug)]
enum Open {
    Thinking,
    Text,
    /// A tool call: its input is printed as it streams.
    ToolUse,
    /// A server tool call: one line at its end, with the input gathered meanwhile.
    ServerToolUse {
        name: String,
        input: String,
    },
    Other,
}

/// Writes what the mode asks for as events arrive, and the end: the final message, the
/// summary line, the error line.
struct Printer {
    mode: Mode,
    stats: bool,
    /// Dim thinking with ANSI escapes (a terminal, and no `NO_COLOR`).
    color: bool,
    started: Instant,
    first_token: Option<Duration>,
    last_text: Option<char>,
    open: HashMap<usize, Open>,
    citations: Vec<serde_json::Value>,
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
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            mode,
            stats: args.stats || std::io::stderr().is_terminal(),
            color: std::io::stdout().is_terminal() && !no_color,
            started: Instant::now(),
            first_token: None,
            last_text: None,
            open: HashMap::new(),
            citations: Vec::new(),
            out: std::io::stdout(),
        }
    }

    fn event(&mut self, event: &StreamEvent) {
        if let StreamEvent::ContentBlockDelta { delta, .. } = event
            && self.first_token.is_none()
            && !matches!(delta, Delta::Signature(_))
        {
            self.first_token = Some(self.started.elapsed());
        }
        match self.mode {
            Mode::Json => {
                let mut out = self.out.lock();
                let _ = ndjson::write(&mut out, event);
                let _ = out.flush();
            }
            Mode::Text => self.text_mode(event),
            Mode::Final => {}
        }
    }

    /// The whole reply as it streams: thinking (dimmed), text, tool calls with their input,
    /// citation markers, server tools and their results in one line each.
    fn text_mode(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::ContentBlockStart { index, block } => {
                let open = self.start(block);
                self.open.insert(*index, open);
            }
            StreamEvent::ContentBlockDelta { index, delta } => {
                match (self.open.get_mut(index), delta) {
                    (Some(Open::ServerToolUse { input, .. }), Delta::InputJson(piece)) => {
                        input.push_str(piece);
                    }
                    (_, Delta::Text(text) | Delta::InputJson(text)) => self.write(text),
                    (_, Delta::Thinking(text)) => {
                        if self.color {
                            self.write(&format!("\x1b[2m{text}\x1b[0m"));
                            // Where the line stands is the thinking's, not the escape's.
                            self.last_text = text.chars().last().or(self.last_text);
                        } else {
                            self.write(text);
                        }
                    }
                    (_, Delta::Citation(citation)) => {
                        self.citations.push(citation.clone());
                        self.write(&format!("[{}]", self.citations.len()));
                    }
                    _ => {}
                }
            }
            StreamEvent::ContentBlockStop { index } => match self.open.remove(index) {
                Some(Open::Thinking) => self.write("\n\n"),
                Some(Open::ToolUse) => self.write("\n"),
                Some(Open::ServerToolUse { name, input }) => {
                    self.line(&format!("[{name}] {input}"));
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// Opens a block in text mode.
    fn start(&mut self, block: &ContentBlock) -> Open {
        match block.block_type() {
            "thinking" => Open::Thinking,
            "text" => Open::Text,
            "tool_use" => {
                self.begin_line();
                self.write(&format!("[tool call] {} ", block.name().unwrap_or("?")));
                Open::ToolUse
            }
            "server_tool_use" | "mcp_tool_use" => Open::ServerToolUse {
                name: block.name().unwrap_or("server tool").to_owned(),
                input: String::new(),
            },
            kind if kind.ends_with("_tool_result") => {
                let json = block.as_json();
                let summary = match json.get("content") {
                    Some(serde_json::Value::Array(items)) => format!("{} item(s)", items.len()),
                    Some(serde_json::Value::Object(object)) => object
                        .get("error_code")
                        .and_then(serde_json::Value::as_str)
                        .map_or_else(|| "done".to_owned(), |code| format!("error {code}")),
                    _ => "done".to_owned(),
                };
                self.line(&format!("[{kind}] {summary}"));
                Open::Other
            }
            _ => Open::Other,
        }
    }

    /// Text as it streams.
    fn write(&mut self, text: &str) {
        let mut out = self.out.lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        if let Some(last) = text.chars().last() {
            self.last_text = Some(last);
        }
    }

    /// Starts a new line unless the text so far ends one.
    fn begin_line(&mut self) {
        if self.last_text.is_some_and(|c| c != '\n') {
            self.write("\n");
        }
    }

    /// A line of its own.
    fn line(&mut self, text: &str) {
        self.begin_line();
        self.write(text);
        self.write("\n");
    }

    /// The citations of the reply, numbered as their markers in the text.
    fn references(&mut self) {
        if self.citations.is_empty() {
            return;
        }
        self.begin_line();
        for (n, citation) in std::mem::take(&mut self.citations).iter().enumerate() {
            let field = |name: &str| citation.get(name).and_then(serde_json::Value::as_str);
            let source = field("document_title")
                .or_else(|| field("title"))
                .or_else(|| field("url"))
                .unwrap_or("source");
            let cited = field("cited_text").unwrap_or_default();
            self.write(&format!("[{}] “{cited}” ({source})\n", n + 1));
        }
    }

    fn finish(&mut self, result: &Result<Message, Error>, request_id: Option<&str>) -> u8 {
        if self.mode == Mode::Text {
            self.references();
        }
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

pub(crate) fn seconds(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.2} s", duration.as_secs_f64())
    }
}

/// The exit status of an error, by class.
pub(crate) fn exit_code(err: &Error) -> u8 {
    match err.session_error().map(|s| &s.kind) {
        Some(ErrorKind::Api(_)) => exit::API,
        Some(ErrorKind::Protocol(_)) => exit::PROTOCOL,
        // No credentials to sign with: the caller's setup, as a missing API key is.
        Some(ErrorKind::Auth(_)) => exit::USAGE,
        Some(_) => exit::TRANSPORT,
        None => exit::USAGE,
    }
}
