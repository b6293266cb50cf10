//! Tool use end to end: register tools, and a [`ToolRunner`] streams a turn, runs the tools
//! the model calls, sends their results and streams the next turn, until the model is done.
//!
//! Each tool starts the moment its `tool_use` block stops (`content_block_stop`, with the exact
//! parsed input), while the rest of the message still streams; the official SDKs' runners
//! wait for the whole message first (then Python runs the tools in turn, TypeScript together). With the async client, tools run concurrently with the
//! stream and with each other (their futures are polled by the runner: no task is spawned,
//! and dropping the runner cancels them); with the blocking client, each runs as its block
//! stops, in order (or on threads, [`ToolRunner::parallel`]).
//!
//! ```no_run
//! # #[cfg(feature = "hyper")]
//! # async fn run() -> Result<(), anthropic_stream::Error> {
//! use anthropic_stream::tools::{RunnableTool, RunnerEvent, ToolRunner};
//! use anthropic_stream::{Client, MessageParam, MessageParams};
//! use serde_json::json;
//!
//! let weather = RunnableTool::new_async(
//!     "get_weather",
//!     "The current weather in a city",
//!     json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
//!     |input| async move { Ok::<_, String>(format!("Sunny in {}", input["city"])) },
//! );
//! let client = Client::from_env()?;
//! let params = MessageParams::new("claude-sonnet-4-5", 1024).message(MessageParam::user("Weather in Oslo?"));
//! let mut runner = ToolRunner::new(&client, params, vec![weather]);
//! while let Some(event) = runner.next().await {
//!     if let RunnerEvent::ToolEnd { name, duration, .. } = event? {
//!         eprintln!("{name} took {duration:?}");
//!     }
//! }
//! println!("{}", runner.final_message().map(|m| m.text()).unwrap_or_default());
//! # Ok(())
//! # }
//! ```
//!
//! What a tool sends back: its [`ToolOutput`] (text or blocks) as a `tool_result`, or, when it
//! fails, `is_error: true` with the message: a handler's error, a panic (caught), an input that
//! is not valid JSON (with the raw input), an input the typed handler cannot deserialize, or a
//! tool name the runner does not know. Server tools (`server_tool_use`) are not run locally. A
//! tool call cut by `max_tokens` is never run on its partial input: the run ends with
//! [`Outcome::ToolInputCut`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;
use stream_core::Error;
use stream_core::accumulate::Derived;
use stream_core::messages::{BlockKind, ContentBlock, Message, StopReason, StreamEvent};
use stream_core::request::{
    BlockParam, ClientConfig, MessageParam, MessageParams, RequestOptions, Tool,
};
use stream_core::stream::{
    Async, AsyncIo, Blocking, BlockingIo, Client, Connector, MessageStream, MessageStreamManager,
    Mode,
};

/// What a tool returns: text, or content blocks (text, images, documents).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ToolOutput {
    /// Text.
    Text(String),
    /// Content blocks.
    Blocks(Vec<BlockParam>),
}

impl From<String> for ToolOutput {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for ToolOutput {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<Value> for ToolOutput {
    /// A JSON value, sent as its JSON text.
    fn from(value: Value) -> Self {
        Self::Text(value.to_string())
    }
}

impl From<Vec<BlockParam>> for ToolOutput {
    fn from(blocks: Vec<BlockParam>) -> Self {
        Self::Blocks(blocks)
    }
}

/// A handler's result, its error as text.
type ToolResult = Result<ToolOutput, String>;
/// A boxed handler future.
type BoxFuture = Pin<Box<dyn Future<Output = ToolResult> + Send>>;
type BlockingFn = dyn Fn(Value) -> ToolResult + Send + Sync;
type AsyncFn = dyn Fn(Value) -> BoxFuture + Send + Sync;

#[derive(Clone)]
enum Handler {
    Blocking(Arc<BlockingFn>),
    Async(Arc<AsyncFn>),
}

/// A tool the runner can call: its definition (name, description, input schema) and its
/// handler. Cheap to clone.
///
/// ```
/// use anthropic_stream::tools::RunnableTool;
/// use serde_json::json;
///
/// #[derive(serde::Deserialize)]
/// struct Sum { a: f64, b: f64 }
///
/// let add = RunnableTool::typed(
///     "add",
///     "Adds two numbers",
///     json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
///     |sum: Sum| Ok::<_, String>((sum.a + sum.b).to_string()),
/// );
/// assert_eq!(add.definition().name, "add");
/// ```
#[derive(Clone)]
pub struct RunnableTool {
    definition: Tool,
    handler: Handler,
}

impl fmt::Debug for RunnableTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunnableTool")
            .field("name", &self.definition.name)
            .field("async", &matches!(self.handler, Handler::Async(_)))
            .finish_non_exhaustive()
    }
}

/// A handler's result as the runner keeps it.
fn settle<O: Into<ToolOutput>, E: fmt::Display>(result: Result<O, E>) -> ToolResult {
    result.map(Into::into).map_err(|e| e.to_string())
}

/// The typed input, or the error sent back when the model's input does not fit the type.
fn typed_input<T: DeserializeOwned>(input: Value) -> Result<T, String> {
    serde_json::from_value(input).map_err(|e| format!("invalid input: {e}"))
}

impl RunnableTool {
    /// A tool whose handler is a plain function of the input JSON. Its error is sent back as
    /// an error result with the error's text.
    pub fn new<F, O, E>(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
        handler: F,
    ) -> Self
    where
        F: Fn(Value) -> Result<O, E> + Send + Sync + 'static,
        O: Into<ToolOutput>,
        E: fmt::Display,
    {
        Self {
            definition: Tool::new(name, description, input_schema),
            handler: Handler::Blocking(Arc::new(move |input| settle(handler(input)))),
        }
    }

    /// A tool whose handler takes its input as `T` (deserialized with serde; an input that
    /// does not fit is an error result naming the field).
    pub fn typed<T, F, O, E>(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
        handler: F,
    ) -> Self
    where
        T: DeserializeOwned,
        F: Fn(T) -> Result<O, E> + Send + Sync + 'static,
        O: Into<ToolOutput>,
        E: fmt::Display,
    {
        Self::new(name, description, input_schema, move |input| {
            typed_input(input).and_then(|input| settle(handler(input)))
        })
    }

    /// A tool whose handler is async (for the async client; the blocking runner refuses it
    /// with an error result). The runner polls its future itself, concurrently with the
    /// stream; dropping the runner cancels it.
    ///
    /// ```
    /// use anthropic_stream::tools::RunnableTool;
    /// use serde_json::json;
    ///
    /// let fetch = RunnableTool::new_async("fetch", "Fetches a page", json!({"type": "object"}), |input| async move {
    ///     Ok::<_, String>(format!("fetched {}", input["url"]))
    /// });
    /// # let _ = fetch;
    /// ```
    pub fn new_async<F, Fut, O, E>(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
        handler: F,
    ) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Into<ToolOutput>,
        E: fmt::Display,
    {
        let handler = Arc::new(handler);
        Self {
            definition: Tool::new(name, description, input_schema),
            handler: Handler::Async(Arc::new(move |input| {
                let future = handler(input);
                Box::pin(async move { settle(future.await) })
            })),
        }
    }

    /// An async tool whose handler takes its input as `T`.
    pub fn typed_async<T, F, Fut, O, E>(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
        handler: F,
    ) -> Self
    where
        T: DeserializeOwned,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Into<ToolOutput>,
        E: fmt::Display,
    {
        Self::new_async(name, description, input_schema, move |input| {
            // The handler's future starts (and runs its synchronous part) only for an input
            // that fits `T`.
            let future = typed_input::<T>(input).map(&handler);
            async move {
                match future {
                    Ok(future) => settle(future.await),
                    Err(error) => Err(error),
                }
            }
        })
    }

    /// A typed tool whose input schema is derived from `T` (feature `schemars`).
    ///
    /// ```
    /// use anthropic_stream::tools::RunnableTool;
    ///
    /// /// Where to look the weather up.
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct City {
    ///     /// The city's name.
    ///     city: String,
    /// }
    ///
    /// let weather = RunnableTool::derived("get_weather", "The weather in a city", |c: City| {
    ///     Ok::<_, String>(format!("Sunny in {}", c.city))
    /// });
    /// let schema = weather.definition().input_schema.as_ref().unwrap();
    /// assert_eq!(schema["required"], serde_json::json!(["city"]));
    /// ```
    #[cfg(feature = "schemars")]
    pub fn derived<T, F, O, E>(
        name: impl Into<String>,
        description: impl Into<String>,
        handler: F,
    ) -> Self
    where
        T: DeserializeOwned + schemars::JsonSchema,
        F: Fn(T) -> Result<O, E> + Send + Sync + 'static,
        O: Into<ToolOutput>,
        E: fmt::Display,
    {
        Self::typed(name, description, schema_of::<T>(), handler)
    }

    /// An async typed tool whose input schema is derived from `T` (feature `schemars`).
    #[cfg(feature = "schemars")]
    pub fn derived_async<T, F, Fut, O, E>(
        name: impl Into<String>,
        description: impl Into<String>,
        handler: F,
    ) -> Self
    where
        T: DeserializeOwned + schemars::JsonSchema,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Into<ToolOutput>,
        E: fmt::Display,
    {
        Self::typed_async(name, description, schema_of::<T>(), handler)
    }

    /// The definition sent in the request's `tools`.
    #[must_use]
    pub fn definition(&self) -> &Tool {
        &self.definition
    }

    /// The tool's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.definition.name
    }
}

/// `T`'s JSON schema, as the API takes an input schema.
#[cfg(feature = "schemars")]
fn schema_of<T: schemars::JsonSchema>() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
    }
    schema
}

/// What the runner shows, in order: each turn's start, its stream events, each tool's start
/// and end, each turn's end.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RunnerEvent {
    /// A turn's request is about to be sent (turns count from 1).
    TurnStart {
        /// The turn.
        turn: u32,
    },
    /// An event of the turn's stream (its helper event: [`ToolRunner::helper`]).
    Event(StreamEvent),
    /// A tool was started on a finished `tool_use` block.
    ToolStart {
        /// The `tool_use` block's id.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// A tool finished; its result goes to the model with the next turn.
    ToolEnd {
        /// The `tool_use` block's id.
        id: String,
        /// The tool's name.
        name: String,
        /// How long the handler ran.
        duration: Duration,
        /// The error sent back as an error result, if it failed.
        error: Option<String>,
    },
    /// The turn's message is complete.
    TurnEnd {
        /// The turn.
        turn: u32,
        /// The assistant's message.
        message: Message,
    },
}

/// Why a run ended (besides an error).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The model stopped for another reason than `tool_use` (its stop reason).
    Done(Option<StopReason>),
    /// The model still asked for tools when the turn limit was reached; the conversation
    /// ends with their results, ready to send.
    MaxTurns,
    /// `max_tokens` cut a tool call's input: no tool ran on it, and the conversation ends with
    /// the cut assistant message.
    ToolInputCut,
}

/// A tool call found at a block's stop.
struct Call {
    index: usize,
    id: String,
    name: String,
    input: Value,
    handler: Option<Handler>,
    /// The error result to send without running anything (unknown tool, invalid input).
    refused: Option<String>,
}

/// The part of the runner that is the same for both clients: the conversation, the tools,
/// the results of this turn, what to show next.
struct Plan {
    config: ClientConfig,
    params: MessageParams,
    tools: Vec<RunnableTool>,
    options: Option<RequestOptions>,
    max_turns: u32,
    turn: u32,
    shown: VecDeque<RunnerEvent>,
    /// This turn's tool results by block index, and the `tool_use` blocks that stopped.
    results: BTreeMap<usize, BlockParam>,
    stopped: Vec<usize>,
    outcome: Option<Outcome>,
    last: Option<Message>,
    failed: bool,
}

impl Plan {
    fn new(config: &ClientConfig, mut params: MessageParams, tools: Vec<RunnableTool>) -> Self {
        for tool in &tools {
            if !params.tools.iter().any(|t| t.name == tool.definition.name) {
                params.tools.push(tool.definition.clone());
            }
        }
        let mut config = config.clone();
        // An invalid input goes back to the model as an error result; the stream goes on.
        config.keep_invalid_tool_input = true;
        Self {
            config,
            params,
            tools,
            options: None,
            max_turns: 10,
            turn: 0,
            shown: VecDeque::new(),
            results: BTreeMap::new(),
            stopped: Vec::new(),
            outcome: None,
            last: None,
            failed: false,
        }
    }

    fn over(&self) -> bool {
        self.outcome.is_some() || self.failed
    }

    /// The next turn's stream, described.
    fn next_turn<M>(&mut self, io: M) -> MessageStreamManager<M> {
        self.turn += 1;
        self.results.clear();
        self.stopped.clear();
        self.shown
            .push_back(RunnerEvent::TurnStart { turn: self.turn });
        let manager = MessageStreamManager::new(&self.config, &self.params, io);
        match &self.options {
            Some(options) => manager.options(options),
            None => manager,
        }
    }

    /// The call of the block that `event` stopped, if it is a call of the caller's tools.
    fn call<M: Mode>(&mut self, stream: &MessageStream<M>, event: &StreamEvent) -> Option<Call> {
        let StreamEvent::ContentBlockStop { index } = event else {
            return None;
        };
        let block: &ContentBlock = stream.current_snapshot()?.content().get(*index)?;
        if block.kind() != BlockKind::ToolUse {
            return None;
        }
        self.stopped.push(*index);
        let id = block.id().unwrap_or_default().to_owned();
        let name = block.name().unwrap_or_default().to_owned();
        let input = block.input().cloned().unwrap_or(Value::Null);
        let tool = self.tools.iter().find(|t| t.definition.name == name);
        let refused = if let Some((raw, error)) = stream.invalid_tool_input(*index) {
            Some(format!("the tool input is not valid JSON ({error}): {raw}"))
        } else if tool.is_none() {
            Some(format!("there is no tool named {name:?}"))
        } else {
            None
        };
        self.shown.push_back(RunnerEvent::ToolStart {
            id: id.clone(),
            name: name.clone(),
        });
        Some(Call {
            index: *index,
            id,
            name,
            input,
            handler: tool.map(|t| t.handler.clone()),
            refused,
        })
    }

    /// Records a finished call and shows its end.
    fn finished(&mut self, call: &Call, duration: Duration, result: ToolResult) {
        let (block, error) = match result {
            Ok(ToolOutput::Text(text)) => (BlockParam::tool_result(&call.id, text), None),
            Ok(ToolOutput::Blocks(blocks)) => {
                (BlockParam::tool_result_blocks(&call.id, blocks), None)
            }
            Err(error) => (BlockParam::tool_error(&call.id, error.clone()), Some(error)),
        };
        self.results.insert(call.index, block);
        self.shown.push_back(RunnerEvent::ToolEnd {
            id: call.id.clone(),
            name: call.name.clone(),
            duration,
            error,
        });
    }

    /// The turn's message is in and every tool of the turn finished: extend the conversation
    /// and decide whether another turn follows.
    fn end_turn(&mut self, message: Message) {
        self.params.messages.push(MessageParam::from(&message));
        let cut = message
            .content()
            .iter()
            .enumerate()
            .any(|(i, b)| b.kind() == BlockKind::ToolUse && !self.stopped.contains(&i));
        let stop_reason = message.stop_reason();
        self.shown.push_back(RunnerEvent::TurnEnd {
            turn: self.turn,
            message: message.clone(),
        });
        self.last = Some(message);
        if cut {
            self.outcome = Some(Outcome::ToolInputCut);
        } else if stop_reason == Some(StopReason::ToolUse) && !self.results.is_empty() {
            let results = std::mem::take(&mut self.results).into_values().collect();
            self.params
                .messages
                .push(MessageParam::user_blocks(results));
            if self.turn >= self.max_turns {
                self.outcome = Some(Outcome::MaxTurns);
            }
        } else {
            self.outcome = Some(Outcome::Done(stop_reason));
        }
    }
}

/// Runs `handler` on `input` now, catching a panic as an error result.
fn run_blocking(handler: &BlockingFn, input: Value) -> ToolResult {
    catch_unwind(AssertUnwindSafe(|| handler(input)))
        .unwrap_or_else(|panic| Err(format!("the tool panicked: {}", panic_text(&*panic))))
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// A tool running on a thread (blocking runner, [`ToolRunner::parallel`]).
struct Threaded {
    call: Call,
    started: Instant,
    thread: std::thread::JoinHandle<(ToolResult, Duration)>,
}

/// An async tool's future, polled by the runner.
struct Running {
    call: Call,
    started: Instant,
    future: BoxFuture,
}

/// Where the runner is in a turn.
enum Phase<M: Mode> {
    /// The next turn is to be started.
    Idle,
    /// Async only: the turn's request is on its way.
    Entering(Pin<Box<dyn Future<Output = Result<MessageStream<M>, Error>> + Send>>),
    /// The turn streams.
    Streaming,
    /// The message is in; tools of the turn may still run.
    Ending(Message),
}

/// The runner: one stream over every turn of a tool-using conversation. See the [module
/// docs](self).
///
/// It is an `Iterator` with the blocking client and has an async `next` (and is a
/// `futures_core::Stream`) with the async client. Dropping it closes the connection of the
/// current turn and (async) cancels the tools still running.
pub struct ToolRunner<M: Mode> {
    /// A new stream's IO over the client's connection pool.
    io: Box<dyn Fn() -> M + Send + Sync>,
    plan: Plan,
    phase: Phase<M>,
    stream: Option<MessageStream<M>>,
    /// Blocking: calls waiting to run inline, or threads.
    queued: VecDeque<Call>,
    threads: Vec<Threaded>,
    parallel: bool,
    /// Async: tool futures.
    running: Vec<Running>,
}

impl<M: Mode> fmt::Debug for ToolRunner<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolRunner")
            .field("turn", &self.plan.turn)
            .field("max_turns", &self.plan.max_turns)
            .field("outcome", &self.plan.outcome)
            .finish_non_exhaustive()
    }
}

impl<M: Mode> ToolRunner<M> {
    /// A runner over `client` for `params`, with `tools` added to the request's tools (tools
    /// already in `params`, server tools for example, stay). Nothing is sent until the first
    /// `next`.
    pub fn new<C>(client: &Client<C>, params: MessageParams, tools: Vec<RunnableTool>) -> Self
    where
        C: Connector<Mode = M> + Clone + Send + Sync + 'static,
    {
        let connector = client.connector().clone();
        Self {
            io: Box::new(move || connector.io()),
            plan: Plan::new(client.config(), params, tools),
            phase: Phase::Idle,
            stream: None,
            queued: VecDeque::new(),
            threads: Vec::new(),
            parallel: false,
            running: Vec::new(),
        }
    }

    /// The most turns (requests) to make; default 10. When the model still asks for tools
    /// after the last one, the run ends with [`Outcome::MaxTurns`].
    #[must_use]
    pub fn max_turns(mut self, turns: u32) -> Self {
        self.plan.max_turns = turns.max(1);
        self
    }

    /// Options for every turn's request (deadlines, retries, headers, ...).
    #[must_use]
    pub fn options(mut self, options: RequestOptions) -> Self {
        self.plan.options = Some(options);
        self
    }

    /// Blocking client: runs each tool on its own thread as its block stops, so tools run
    /// concurrently with each other and with the stream; their ends are shown when the turn's
    /// message is in. A thread cannot be cancelled: one still running when the runner is
    /// dropped finishes on its own. Off by default (each tool runs as its block stops, in
    /// order, while the stream waits).
    #[must_use]
    pub fn parallel(mut self, parallel: bool) -> Self {
        self.parallel = parallel;
        self
    }

    /// The helper event of `event`, an event the runner just returned, as the official SDKs'
    /// `MessageStream` fires it (see
    /// [`Exchange::helper`](stream_core::exchange::Exchange::helper)).
    #[must_use]
    pub fn helper<'a>(&'a self, event: &'a StreamEvent) -> Option<Derived<'a>> {
        self.stream.as_ref()?.helper(event)
    }

    /// The message of the last turn that ended.
    #[must_use]
    pub fn final_message(&self) -> Option<&Message> {
        self.plan.last.as_ref()
    }

    /// The conversation so far: the messages given, then each turn's assistant message and
    /// the user message with its tool results; the messages to send next time.
    #[must_use]
    pub fn messages(&self) -> &[MessageParam] {
        &self.plan.params.messages
    }

    /// Why the run ended, once it has.
    #[must_use]
    pub fn outcome(&self) -> Option<&Outcome> {
        self.plan.outcome.as_ref()
    }

    /// The turns started so far.
    #[must_use]
    pub fn turns(&self) -> u32 {
        self.plan.turn
    }

    /// Ends a turn whose stream returned its last event.
    fn stream_ended(&mut self) -> Result<(), Error> {
        let stream = self.stream.as_mut().expect("a streaming turn has a stream");
        let message = stream.take_final_message()?;
        self.phase = Phase::Ending(message);
        Ok(())
    }

    /// The turn's end, once its tools are done.
    fn end_turn(&mut self) {
        if let Phase::Ending(message) = std::mem::replace(&mut self.phase, Phase::Idle) {
            self.plan.end_turn(message);
        }
    }

    /// An error ends the run; the current turn's connection closes.
    fn fail(&mut self, error: Error) -> Option<Result<RunnerEvent, Error>> {
        self.plan.failed = true;
        self.stream = None;
        self.running.clear();
        self.queued.clear();
        Some(Err(error))
    }
}

impl<I: BlockingIo> Iterator for ToolRunner<Blocking<I>> {
    type Item = Result<RunnerEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(event) = self.plan.shown.pop_front() {
                return Some(Ok(event));
            }
            if let Some(call) = self.queued.pop_front() {
                self.start_blocking(call);
                continue;
            }
            if self.plan.over() {
                return None;
            }
            match &self.phase {
                Phase::Idle => {
                    let manager = self.plan.next_turn((self.io)());
                    match manager.enter() {
                        Ok(stream) => {
                            self.stream = Some(stream);
                            self.phase = Phase::Streaming;
                        }
                        Err(error) => return self.fail(error),
                    }
                }
                Phase::Streaming => {
                    let stream = self.stream.as_mut().expect("a streaming turn has a stream");
                    match stream.next() {
                        Some(Ok(event)) => {
                            let stream = self.stream.as_ref().expect("just used");
                            if let Some(call) = self.plan.call(stream, &event) {
                                self.queued.push_back(call);
                            }
                            return Some(Ok(RunnerEvent::Event(event)));
                        }
                        Some(Err(error)) => return self.fail(error),
                        None => {
                            if let Err(error) = self.stream_ended() {
                                return self.fail(error);
                            }
                        }
                    }
                }
                Phase::Ending(_) => {
                    for threaded in std::mem::take(&mut self.threads) {
                        let (result, duration) = threaded.thread.join().unwrap_or_else(|panic| {
                            let error = format!("the tool panicked: {}", panic_text(&*panic));
                            (Err(error), threaded.started.elapsed())
                        });
                        self.plan.finished(&threaded.call, duration, result);
                    }
                    self.end_turn();
                }
                Phase::Entering(_) => unreachable!("the blocking runner enters at once"),
            }
        }
    }
}

impl<I: BlockingIo> ToolRunner<Blocking<I>> {
    /// Runs a call: inline (its end is shown next), or on a thread.
    fn start_blocking(&mut self, call: Call) {
        let started = Instant::now();
        let handler = match (&call.refused, &call.handler) {
            (Some(refused), _) => {
                let refused = refused.clone();
                self.plan.finished(&call, Duration::ZERO, Err(refused));
                return;
            }
            (None, Some(Handler::Blocking(handler))) => Arc::clone(handler),
            (None, _) => {
                let error = "an async tool cannot run with the blocking client".to_owned();
                self.plan.finished(&call, Duration::ZERO, Err(error));
                return;
            }
        };
        if self.parallel {
            let input = call.input.clone();
            let thread = std::thread::spawn(move || {
                let started = Instant::now();
                let result = run_blocking(&*handler, input);
                (result, started.elapsed())
            });
            self.threads.push(Threaded {
                call,
                started,
                thread,
            });
            return;
        }
        let result = run_blocking(&*handler, call.input.clone());
        self.plan.finished(&call, started.elapsed(), result);
    }

    /// Reads every turn to the end.
    ///
    /// # Errors
    ///
    /// The error that ended the run (a turn's stream or request).
    pub fn until_done(&mut self) -> Result<Outcome, Error> {
        for event in self.by_ref() {
            event?;
        }
        Ok(self.plan.outcome.clone().unwrap_or(Outcome::Done(None)))
    }
}

impl<I: AsyncIo + Send + 'static> ToolRunner<Async<I>> {
    /// The next event, or `None` once the run is over.
    pub async fn next(&mut self) -> Option<Result<RunnerEvent, Error>> {
        poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Reads every turn to the end.
    ///
    /// # Errors
    ///
    /// The error that ended the run (a turn's stream or request).
    pub async fn until_done(&mut self) -> Result<Outcome, Error> {
        while let Some(event) = self.next().await {
            event?;
        }
        Ok(self.plan.outcome.clone().unwrap_or(Outcome::Done(None)))
    }

    /// Starts an async call (an inline one for a plain handler, or a refused one, ends now).
    fn start_async(&mut self, call: Call) {
        let started = Instant::now();
        match (&call.refused, &call.handler) {
            (Some(refused), _) => {
                let refused = refused.clone();
                self.plan.finished(&call, Duration::ZERO, Err(refused));
            }
            (None, Some(Handler::Async(handler))) => {
                let handler = Arc::clone(handler);
                let input = call.input.clone();
                let future =
                    catch_unwind(AssertUnwindSafe(|| handler(input))).unwrap_or_else(|panic| {
                        let error = format!("the tool panicked: {}", panic_text(&*panic));
                        Box::pin(std::future::ready(Err(error)))
                    });
                self.running.push(Running {
                    call,
                    started,
                    future,
                });
            }
            (None, Some(Handler::Blocking(handler))) => {
                let result = run_blocking(&**handler, call.input.clone());
                self.plan.finished(&call, started.elapsed(), result);
            }
            (None, None) => unreachable!("a call without a handler is refused"),
        }
    }

    /// Polls the running tools; `true` when one finished.
    fn poll_running(&mut self, cx: &mut Context<'_>) -> bool {
        let mut finished = false;
        let mut i = 0;
        while i < self.running.len() {
            let running = &mut self.running[i];
            let polled = catch_unwind(AssertUnwindSafe(|| running.future.as_mut().poll(cx)));
            let result = match polled {
                Ok(Poll::Pending) => {
                    i += 1;
                    continue;
                }
                Ok(Poll::Ready(result)) => result,
                Err(panic) => Err(format!("the tool panicked: {}", panic_text(&*panic))),
            };
            let running = self.running.remove(i);
            self.plan
                .finished(&running.call, running.started.elapsed(), result);
            finished = true;
        }
        finished
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<RunnerEvent, Error>>> {
        loop {
            if let Some(event) = self.plan.shown.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            if self.poll_running(cx) {
                continue;
            }
            if self.plan.over() {
                return Poll::Ready(None);
            }
            match &mut self.phase {
                Phase::Idle => {
                    let manager = self.plan.next_turn((self.io)());
                    self.phase = Phase::Entering(Box::pin(manager.enter()));
                }
                Phase::Entering(entering) => match entering.as_mut().poll(cx) {
                    Poll::Ready(Ok(stream)) => {
                        self.stream = Some(stream);
                        self.phase = Phase::Streaming;
                    }
                    Poll::Ready(Err(error)) => return Poll::Ready(self.fail(error)),
                    Poll::Pending => return Poll::Pending,
                },
                Phase::Streaming => {
                    let stream = self.stream.as_mut().expect("a streaming turn has a stream");
                    match futures_core::Stream::poll_next(Pin::new(stream), cx) {
                        Poll::Ready(Some(Ok(event))) => {
                            let stream = self.stream.as_ref().expect("just used");
                            if let Some(call) = self.plan.call(stream, &event) {
                                self.start_async(call);
                            }
                            return Poll::Ready(Some(Ok(RunnerEvent::Event(event))));
                        }
                        Poll::Ready(Some(Err(error))) => return Poll::Ready(self.fail(error)),
                        Poll::Ready(None) => {
                            if let Err(error) = self.stream_ended() {
                                return Poll::Ready(self.fail(error));
                            }
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Phase::Ending(_) if self.running.is_empty() => self.end_turn(),
                // The running tools were polled above: their wakers are set.
                Phase::Ending(_) => return Poll::Pending,
            }
        }
    }
}

impl<I: AsyncIo + Send + 'static> futures_core::Stream for ToolRunner<Async<I>> {
    type Item = Result<RunnerEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx)
    }
}
