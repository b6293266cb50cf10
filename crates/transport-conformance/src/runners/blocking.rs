//! The runner of the blocking transport.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use stream_core::Error;
use stream_core::messages::Message;
use stream_core::request::{ClientConfig, MessageParams, Request, RequestOptions};
use stream_core::session::Reconnect;
use transport_ureq::{Client, MessageStream};

use crate::{Exit, Run, Runner, SseRun};

/// Runs the scenarios with `transport-ureq`: plain calls, an `Iterator` of events, the
/// scoped form with a closure. A pending call cannot be cancelled in blocking code, so
/// [`Exit::CancelPending`] drops the stream instead.
#[derive(Debug)]
pub struct Blocking;

/// Reads up to `count` events (all without a count), recording them, the error, the request
/// id and the snapshot.
fn read(stream: &mut MessageStream, run: &mut Run, count: Option<usize>, exit: Exit) {
    while count.is_none_or(|n| run.events.len() < n) {
        match stream.next() {
            Some(Ok(event)) => {
                if let Some(helper) = stream.helper(&event) {
                    run.helpers.push(helper.to_json());
                }
                run.events.push(event);
                if let Some(pause) = exit.pause_after(run.events.len()) {
                    std::thread::sleep(pause);
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

impl Runner for Blocking {
    type Client = Client;

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
        match exit {
            Exit::BreakInWith(n) | Exit::ErrorInWith(n) | Exit::PanicInWith(n) => {
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    manager.with(|stream| -> Result<(), String> {
                        read(stream, &mut run, Some(n), exit);
                        match exit {
                            Exit::ErrorInWith(_) => Err("the caller gives up".to_owned())?,
                            Exit::PanicInWith(_) => panic!("a panic inside the scope"),
                            _ => Ok(()),
                        }
                    })
                }));
                run.exited_at = Some(Instant::now());
                match outcome {
                    Ok(Err(err)) => run.enter_error = Some(err),
                    Ok(Ok(_)) => {}
                    Err(_) => run.panicked = true,
                }
                return run;
            }
            _ => {}
        }
        let mut stream = match manager.enter() {
            Ok(stream) => stream,
            Err(err) => {
                run.enter_error = Some(err);
                return run;
            }
        };
        match exit {
            Exit::DropAfter(n) | Exit::CancelPending(n) => {
                read(&mut stream, &mut run, Some(n), exit);
                run.exited_at = Some(Instant::now());
                drop(stream);
            }
            Exit::CloseAfter(n) => {
                read(&mut stream, &mut run, Some(n), exit);
                run.exited_at = Some(Instant::now());
                stream.close();
            }
            Exit::TextStream => {
                run.request_id = stream.request_id().map(str::to_owned);
                let mut text = stream.text_stream();
                for delta in &mut text {
                    match delta {
                        Ok(delta) => run.text.push(delta),
                        Err(err) => {
                            run.error = Some(err);
                            return run;
                        }
                    }
                }
                finish(text.final_message(), &mut run);
            }
            _ => {
                read(&mut stream, &mut run, None, exit);
                if run.error.is_none() {
                    finish(stream.final_message(), &mut run);
                }
            }
        }
        run
    }

    fn run_with_options(client: &Client, params: MessageParams, options: &RequestOptions) -> Run {
        let mut run = Run::default();
        match client.messages().stream(params).options(options).enter() {
            Ok(mut stream) => {
                read(&mut stream, &mut run, None, Exit::Drain);
                if run.error.is_none() {
                    finish(stream.final_message(), &mut run);
                }
            }
            Err(err) => run.enter_error = Some(err),
        }
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
        let mut stream = match manager.enter() {
            Ok(stream) => stream,
            Err(err) => {
                run.enter_error = Some(err);
                return run;
            }
        };
        run.status = stream.status();
        run.headers = stream.header_map();
        let limit = match exit {
            Exit::DropAfter(n) => Some(n),
            _ => None,
        };
        while limit.is_none_or(|n| run.events.len() < n) {
            match stream.next() {
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
        run
    }
}
