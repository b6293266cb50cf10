//! The runner of the async transport.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use stream_core::Error;
use stream_core::messages::Message;
use stream_core::request::{ClientConfig, MessageParams, Request, RequestOptions};
use stream_core::session::Reconnect;
use tokio::runtime::Runtime;
use transport_hyper::{Client, MessageStream};

use crate::{Exit, Run, Runner, SseRun};

/// Runs the scenarios with `transport-hyper` on a shared multi-threaded runtime (so hyper's
/// connection tasks keep running between calls, as in an application): `next().await`, the
/// scoped form with an async closure, and cancellation of pending futures.
#[derive(Debug)]
pub struct Async;

/// How long a pending future is left pending before [`Exit::CancelPending`] cancels it.
const PENDING_FOR: Duration = Duration::from_millis(30);

/// The shared runtime.
///
/// # Panics
///
/// When the runtime cannot be built (no threads).
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Reads up to `count` events (all without a count), recording them, the error, the request
/// id and the snapshot.
async fn read(stream: &mut MessageStream, run: &mut Run, count: Option<usize>, exit: Exit) {
    while count.is_none_or(|n| run.events.len() < n) {
        match stream.next().await {
            Some(Ok(event)) => {
                if let Some(helper) = stream.helper(&event) {
                    run.helpers.push(helper.to_json());
                }
                run.events.push(event);
                if let Some(pause) = exit.pause_after(run.events.len()) {
                    tokio::time::sleep(pause).await;
                }
            }
            Some(Err(err)) => {
                run.error = Some(err);
                break;
            }
            None => break,
        }
    }
    run.request_id = stream.request_id().map(str::to_owned);
    run.snapshot = stream.current_snapshot().cloned();
}

fn finish(result: Result<Message, Error>, run: &mut Run) {
    match result {
        Ok(message) => run.message = Some(message),
        Err(err) => run.error = Some(err),
    }
}

impl Runner for Async {
    type Client = Client;

    fn cancels() -> bool {
        true
    }

    fn client(config: ClientConfig, roots: Option<&[u8]>) -> Client {
        match roots {
            Some(der) => Client::with_root_certificates(config, &[der.to_vec()]),
            None => Client::new(config),
        }
    }

    fn run(client: &Client, params: MessageParams, exit: Exit, between: &mut dyn FnMut()) -> Run {
        let mut run = Run::default();
        let manager = client.messages().stream(params);
        between();
        if let Exit::BreakInWith(n) | Exit::ErrorInWith(n) | Exit::PanicInWith(n) = exit {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                runtime().block_on(manager.with(async |stream| -> Result<(), String> {
                    read(stream, &mut run, Some(n), exit).await;
                    match exit {
                        Exit::ErrorInWith(_) => Err("the caller gives up".to_owned())?,
                        Exit::PanicInWith(_) => panic!("a panic inside the scope"),
                        _ => Ok(()),
                    }
                }))
            }));
            run.exited_at = Some(Instant::now());
            match outcome {
                Ok(Err(err)) => run.enter_error = Some(err),
                Ok(Ok(_)) => {}
                Err(_) => run.panicked = true,
            }
            return run;
        }
        if let Exit::CancelPending(n) = exit {
            runtime().block_on(async {
                let work = async {
                    let mut stream = match manager.enter().await {
                        Ok(stream) => stream,
                        Err(err) => {
                            run.enter_error = Some(err);
                            return;
                        }
                    };
                    read(&mut stream, &mut run, Some(n), exit).await;
                    // Pending: the server stalls here. The timeout drops this future, and with
                    // it the stream.
                    let _ = stream.next().await;
                };
                let _ = tokio::time::timeout(PENDING_FOR, work).await;
            });
            run.exited_at = Some(Instant::now());
            return run;
        }
        runtime().block_on(async {
            let mut stream = match manager.enter().await {
                Ok(stream) => stream,
                Err(err) => {
                    run.enter_error = Some(err);
                    return;
                }
            };
            match exit {
                Exit::DropAfter(n) => {
                    read(&mut stream, &mut run, Some(n), exit).await;
                    run.exited_at = Some(Instant::now());
                    drop(stream);
                }
                Exit::CloseAfter(n) => {
                    read(&mut stream, &mut run, Some(n), exit).await;
                    run.exited_at = Some(Instant::now());
                    stream.close();
                }
                Exit::TextStream => {
                    run.request_id = stream.request_id().map(str::to_owned);
                    let mut text = stream.text_stream();
                    while let Some(delta) = text.next().await {
                        match delta {
                            Ok(delta) => run.text.push(delta),
                            Err(err) => {
                                run.error = Some(err);
                                return;
                            }
                        }
                    }
                    finish(text.final_message().await, &mut run);
                }
                _ => {
                    read(&mut stream, &mut run, None, exit).await;
                    if run.error.is_none() {
                        finish(stream.final_message().await, &mut run);
                    }
                }
            }
        });
        run
    }

    fn run_with_options(client: &Client, params: MessageParams, options: &RequestOptions) -> Run {
        let mut run = Run::default();
        runtime().block_on(async {
            match client
                .messages()
                .stream(params)
                .options(options)
                .enter()
                .await
            {
                Ok(mut stream) => {
                    read(&mut stream, &mut run, None, Exit::Drain).await;
                    if run.error.is_none() {
                        finish(stream.final_message().await, &mut run);
                    }
                }
                Err(err) => run.enter_error = Some(err),
            }
        });
        run
    }

    fn run_sse(
        client: &Client,
        request: Request,
        reconnect: Option<&Reconnect>,
        exit: Exit,
        between: &mut dyn FnMut(),
    ) -> SseRun {
        let mut run = SseRun::default();
        let mut manager = client.sse(request);
        if let Some(reconnect) = reconnect {
            manager = manager.reconnect(reconnect.clone());
        }
        between();
        runtime().block_on(async {
            let mut stream = match manager.enter().await {
                Ok(stream) => stream,
                Err(err) => {
                    run.enter_error = Some(err);
                    return;
                }
            };
            run.status = stream.status();
            run.headers = stream.header_map();
            let limit = match exit {
                Exit::DropAfter(n) => Some(n),
                _ => None,
            };
            while limit.is_none_or(|n| run.events.len() < n) {
                match stream.next().await {
                    Some(Ok(event)) => run.events.push(event),
                    Some(Err(err)) => {
                        run.error = Some(err);
                        break;
                    }
                    None => break,
                }
            }
            run.exited_at = Some(Instant::now());
            run.reconnects = stream.reconnects();
            drop(stream);
        });
        run
    }
}
