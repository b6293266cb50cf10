//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Without ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN and without --base-url, the reply comes from a
local Messages server started in-process; it answers as a model would (your prompt reflected,
max tokens, stop sequences, thinking, tool calls), with no network needed. So does
--provider bedrock without AWS credentials (over Bedrock's path, framing and a signature checked
for form), and --provider vertex without a token.

Exit status:
  0    success
  1    API error (an error status, or an `error` event in the stream)
  2    usage error (arguments, parameters, configuration)
  3    transport failure or deadline
  4    protocol error or truncated stream
  130  interrupted (Ctrl-C); the connection is closed first

Examples:
  anthropic-stream \"Write a haiku about Rust\"
  anthropic-stream -m claude-opus-4-1 -t 2000 --thinking 1024 \"Plan a trip\"
  anthropic-stream --tools tools.json --tool-choice get_weather \"Weather in Oslo?\"
  anthropic-stream --stop END --temperature 0.2 -H 'x-team: search' \"Count to ten, then END\"
  echo \"Summarise this\" | anthropic-stream --model claude-sonnet-4-5 --max-tokens 300
  anthropic-stream --json \"Hi\" > events.ndjson
  anthropic-stream --replay recorded.sse --final
  anthropic-stream --provider bedrock --region us-west-2 \"Hello from Bedrock\"
  anthropic-stream --provider vertex --project my-project --region us-east5 \"Hello from Vertex AI\"
  anthropic-stream decode < stream.sse
  anthropic-stream serve --port 8080 --fault status=529*2
  anthropic-stream serve --port 8080 --feed 30 --drop-every 10 --retry-ms 500
  anthropic-stream sse --reconnect http://127.0.0.1:8080/feed";

/// Stream a Claude reply to the terminal as it arrives (Anthropic Messages API over
/// Server-Sent Events).
#[derive(Debug, Parser)]
#[command(name = "anthropic-stream", version, after_help = AFTER_HELP)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) stream: StreamArgs,
}

/// The commands besides streaming a reply.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Decode a text/event-stream body on standard input into one JSON object per event
    /// ({"event", "data", "id", "retry"}).
    Decode,
    /// Fold a Messages event stream on standard input into the final message JSON (exit 1
    /// with {"error": .., "partial": ..} when it is incomplete).
    Accumulate,
    /// Run the local Messages server in the foreground, to try other clients against it.
    Serve(ServeArgs),
    /// Connect to any SSE endpoint and print one JSON object per event (the `decode`
    /// format), optionally reconnecting as an `EventSource` does.
    #[command(after_help = SSE_AFTER_HELP)]
    Sse(SseArgs),
}

const SSE_AFTER_HELP: &str = "\
The request carries `accept: text/event-stream` unless -H sets another; with --data and no
content-type header, a body that is JSON is sent as `application/json`. No API key is sent.

With --reconnect, a connection that ends or fails after the response started is made again
after the reconnection time (the stream's `retry:`, else --reconnect-delay; doubled, with
jitter, for each further attempt in a row without an event, up to 30 s), with `last-event-id`
set to the last event ID; a 204 ends the feed. 408, 429 and 5xx are retried; other statuses end
it. See docs/feeds.md.

Exit status:
  0    the server ended the stream (or a 204 ended the feed, or --max-events were printed)
  1    an error status from the server
  2    usage error
  3    transport failure or deadline
  4    protocol error (not text/event-stream, a line over the limit)
  130  interrupted (Ctrl-C)

Examples:
  anthropic-stream sse https://stream.wikimedia.org/v2/stream/recentchange --max-events 5
  anthropic-stream sse --reconnect --last-event-id 41 http://127.0.0.1:8080/feed
  anthropic-stream sse -X POST -H 'authorization: Bearer $TOKEN' -d @body.json https://gateway/v1/chat/completions";

/// The service a reply is asked of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProviderArg {
    /// The Anthropic API.
    Anthropic,
    /// Claude on Amazon Bedrock.
    Bedrock,
    /// Claude on Google Vertex AI.
    Vertex,
}

/// Which transport streams the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Transport {
    /// Async: tokio and hyper (HTTP/1.1 and HTTP/2).
    Hyper,
    /// Blocking: ureq.
    Ureq,
}

/// Streaming a reply.
#[derive(Debug, Args)]
pub(crate) struct StreamArgs {
    /// The prompt (read from standard input when absent).
    pub(crate) prompt: Option<String>,
    /// The model [default: claude-sonnet-4-5].
    #[arg(short, long)]
    pub(crate) model: Option<String>,
    /// The most tokens to generate [default: 1024].
    #[arg(short = 't', long, value_name = "N")]
    pub(crate) max_tokens: Option<u32>,
    /// A system prompt.
    #[arg(short, long)]
    pub(crate) system: Option<String>,
    /// Sampling temperature (0 to 1).
    #[arg(long, value_name = "T")]
    pub(crate) temperature: Option<f64>,
    /// Nucleus sampling: the probability mass to sample from.
    #[arg(long, value_name = "P")]
    pub(crate) top_p: Option<f64>,
    /// Sample from the K most likely tokens only.
    #[arg(long, value_name = "K")]
    pub(crate) top_k: Option<u32>,
    /// A sequence that ends the reply (repeatable).
    #[arg(long = "stop", value_name = "SEQUENCE")]
    pub(crate) stop: Vec<String>,
    /// Tools the model may call: a JSON file holding an array of tool definitions (or an
    /// object with a "tools" array).
    #[arg(long, value_name = "FILE")]
    pub(crate) tools: Option<PathBuf>,
    /// How the model chooses tools: auto, any, none, or the name of one tool.
    #[arg(long, value_name = "auto|any|none|NAME")]
    pub(crate) tool_choice: Option<String>,
    /// Enable extended thinking with this token budget.
    #[arg(long, value_name = "BUDGET")]
    pub(crate) thinking: Option<u32>,
    /// The transport.
    #[arg(long, value_enum, default_value_t = Transport::Hyper)]
    pub(crate) transport: Transport,
    /// Where the request goes: the Anthropic API, Claude on Amazon Bedrock (AWS credentials
    /// from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, or a Bedrock API
    /// key in `AWS_BEARER_TOKEN_BEDROCK`) or on Google Vertex AI (a token in
    /// `ANTHROPIC_VERTEX_ACCESS_TOKEN`).
    #[arg(long, value_enum, default_value_t = ProviderArg::Anthropic)]
    pub(crate) provider: ProviderArg,
    /// The region: Bedrock's AWS region [default: `AWS_REGION`, else us-east-1] or Vertex
    /// AI's [default: `CLOUD_ML_REGION`].
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// The Google Cloud project, for Vertex AI [default: `ANTHROPIC_VERTEX_PROJECT_ID`].
    #[arg(long, value_name = "PROJECT")]
    pub(crate) project: Option<String>,
    /// The API's base URL [default: `ANTHROPIC_BASE_URL`; with --provider bedrock,
    /// `ANTHROPIC_BEDROCK_BASE_URL`; with vertex, `ANTHROPIC_VERTEX_BASE_URL`].
    #[arg(long, value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// A beta flag, sent in `anthropic-beta` (repeatable).
    #[arg(long = "beta", value_name = "FLAG")]
    pub(crate) betas: Vec<String>,
    /// An extra request header, 'Name: value' (repeatable; replaces one of the same name).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,
    /// The `anthropic-version` header [default: 2023-06-01].
    #[arg(long, value_name = "VERSION")]
    pub(crate) api_version: Option<String>,
    #[command(flatten)]
    pub(crate) deadlines: DeadlineArgs,
    /// A full request body (JSON); the options above override its fields, and the prompt is
    /// added as a last user message.
    #[arg(long, value_name = "FILE")]
    pub(crate) params: Option<PathBuf>,
    /// Print every event as one JSON line on standard output, then the final message.
    #[arg(short, long, conflicts_with = "final_only")]
    pub(crate) json: bool,
    /// Print only the final message, as JSON.
    #[arg(long = "final")]
    pub(crate) final_only: bool,
    /// Serve this recorded stream from the built-in local server and stream it.
    #[arg(long, value_name = "FILE")]
    pub(crate) replay: Option<PathBuf>,
    /// Print the summary line (time to first token, elapsed time, tokens, stop reason,
    /// request-id) on standard error even when it is not a terminal.
    #[arg(long)]
    pub(crate) stats: bool,
}

/// Running the local server.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub(crate) port: u16,
    /// Serve this recorded stream instead of answering each request.
    #[arg(long, value_name = "FILE")]
    pub(crate) replay: Option<PathBuf>,
    /// A fault to inject, repeatable: reset-after-bytes=N, reset-after-events=N,
    /// cut-after-bytes=N, cut-after-events=N, stall-after-bytes=N, stall-after-events=N,
    /// end-after-events=N, end-before-stop, error-event-at=N, exception-at=N:TYPE (a Bedrock
    /// exception frame, such as throttlingException; on other paths the matching `error`
    /// event), garbage-at=N, huge-line-at=N:LEN, invalid-utf8-at=N (or N:INDEX); and for whole
    /// replies: status=CODE
    /// (status=CODE*K: the first K requests only), retry-after=SECONDS, html, silence,
    /// drip=BYTES:MILLISECONDS, pace=MILLISECONDS.
    #[arg(long = "fault", value_name = "SPEC")]
    pub(crate) faults: Vec<String>,
    /// Require a credential (x-api-key or Authorization: Bearer) on every request.
    #[arg(long)]
    pub(crate) require_auth: bool,
    /// Serve a resumable event feed of N events on every path instead (ids 1..N, `event:
    /// tick`, resumed after `last-event-id`, 204 once all were delivered).
    #[arg(long, value_name = "N", conflicts_with = "replay")]
    pub(crate) feed: Option<u64>,
    /// With --feed: end each response after K events (the client reconnects).
    #[arg(long, value_name = "K", requires = "feed")]
    pub(crate) drop_every: Option<u64>,
    /// With --feed: start each response with `retry: MS`.
    #[arg(long, value_name = "MS", requires = "feed")]
    pub(crate) retry_ms: Option<u64>,
}

/// Reading any SSE endpoint.
#[derive(Debug, Args)]
pub(crate) struct SseArgs {
    /// The endpoint's URL.
    pub(crate) url: String,
    /// The request method [default: GET, or POST with --data].
    #[arg(short = 'X', long, value_name = "METHOD")]
    pub(crate) method: Option<String>,
    /// A request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,
    /// The request body; @FILE reads it from a file, @- from standard input.
    #[arg(short = 'd', long, value_name = "BODY|@FILE")]
    pub(crate) data: Option<String>,
    /// Reconnect after the connection ends or fails, resuming with `last-event-id`.
    #[arg(long)]
    pub(crate) reconnect: bool,
    /// With --reconnect: the reconnection time until the stream sends `retry:`, in seconds
    /// [default: 3].
    #[arg(long, value_name = "SECONDS", requires = "reconnect")]
    pub(crate) reconnect_delay: Option<f64>,
    /// With --reconnect: give up after this many attempts in a row that bring no event
    /// [default: no limit].
    #[arg(long, value_name = "N", requires = "reconnect")]
    pub(crate) max_attempts: Option<u32>,
    /// Resume after this event ID (sent as `last-event-id`).
    #[arg(long, value_name = "ID")]
    pub(crate) last_event_id: Option<String>,
    /// Stop after N events (exit 0).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_events: Option<u64>,
    /// The transport.
    #[arg(long, value_enum, default_value_t = Transport::Hyper)]
    pub(crate) transport: Transport,
    #[command(flatten)]
    pub(crate) deadlines: DeadlineArgs,
    /// Print the summary line (events, reconnections, last event ID, elapsed time) on standard
    /// error even when it is not a terminal.
    #[arg(long)]
    pub(crate) stats: bool,
}

/// Deadlines and retries, for streaming a reply and for `sse`.
#[derive(Debug, Args)]
pub(crate) struct DeadlineArgs {
    /// The total deadline, in seconds, retries and reconnections included [default: none].
    #[arg(long, value_name = "SECONDS")]
    pub(crate) timeout: Option<f64>,
    /// The longest silence of the server while streaming, in seconds [default: 90].
    #[arg(long, value_name = "SECONDS")]
    pub(crate) idle_timeout: Option<f64>,
    /// Retries of a failed request before any event (408, 409, 429, 5xx, connection errors)
    /// [default: 2].
    #[arg(long, value_name = "N")]
    pub(crate) max_retries: Option<u32>,
}
