//! `serve`: the local Messages server in the foreground.

use std::io::Write;
use std::time::Duration;

use messages_test_server::{Fault, Feed, Reply, Server};

use crate::args::ServeArgs;
use crate::{exit, usage};

/// Runs the server until Ctrl-C; prints its base URL on standard output first.
pub(crate) fn run(args: &ServeArgs) -> u8 {
    let (reply, first) = match replies(args) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let server = match Server::builder()
        .port(args.port)
        .require_auth(args.require_auth)
        .default_reply(reply)
        .try_start()
    {
        Ok(server) => server,
        Err(err) => {
            eprintln!(
                "anthropic-stream serve: cannot listen on 127.0.0.1:{}: {err}",
                args.port
            );
            return exit::TRANSPORT;
        }
    };
    if let Some((reply, count)) = first {
        server.enqueue_n(count, &reply);
    }
    println!("{}", server.base_url());
    let _ = std::io::stdout().flush();
    if args.feed.is_some() {
        eprintln!(
            "anthropic-stream serve: a resumable event feed at {}/feed (any path); Ctrl-C stops it",
            server.base_url()
        );
    } else {
        eprintln!(
            "anthropic-stream serve: the Messages API at {} (POST /v1/messages); Ctrl-C stops it",
            server.messages_url()
        );
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("anthropic-stream serve: {err}");
            return exit::TRANSPORT;
        }
    };
    let _ = runtime.block_on(tokio::signal::ctrl_c());
    eprintln!(
        "anthropic-stream serve: stopped after {} requests",
        server.request_count()
    );
    exit::INTERRUPTED
}

type Script = (Reply, Option<(Reply, usize)>);

/// The default reply with its faults, and the reply for the first requests (`status=CODE*K`).
fn replies(args: &ServeArgs) -> Result<Script, u8> {
    let mut reply = match (&args.replay, args.feed) {
        (Some(file), _) => Reply::recorded_file(file)
            .map_err(|err| usage(&format!("cannot read {}: {err}", file.display())))?,
        (None, Some(total)) => {
            let mut feed = Feed::new(total);
            if let Some(events) = args.drop_every {
                feed = feed.drop_every(events);
            }
            if let Some(ms) = args.retry_ms {
                feed = feed.retry_ms(ms);
            }
            Reply::feed(feed)
        }
        (None, None) => Reply::answer(),
    };
    let mut first = None;
    let mut retry_after = None;
    for spec in &args.faults {
        let (name, value) = spec.split_once('=').unwrap_or((spec, ""));
        let number = |text: &str| {
            text.trim()
                .parse::<u64>()
                .map_err(|_| usage(&format!("`{spec}`: `{text}` is not a number")))
        };
        match name {
            "status" => {
                let (code, times) = value.split_once('*').unwrap_or((value, ""));
                let code =
                    u16::try_from(number(code)?).map_err(|_| usage("a status is at most 999"))?;
                if times.is_empty() {
                    reply = Reply::error(code);
                } else {
                    let times = usize::try_from(number(times)?).unwrap_or(usize::MAX);
                    first = Some((Reply::error(code), times));
                }
            }
            "retry-after" => retry_after = Some(number(value)?),
            "html" => reply = Reply::html(),
            "silence" => reply = Reply::silence(),
            "drip" => {
                let (bytes, millis) = value
                    .split_once(':')
                    .ok_or_else(|| usage(&format!("`{spec}`: drip=BYTES:MILLISECONDS")))?;
                let bytes = usize::try_from(number(bytes)?).unwrap_or(usize::MAX);
                reply = reply.drip(bytes, Duration::from_millis(number(millis)?));
            }
            "pace" => reply = reply.pace_events(Duration::from_millis(number(value)?)),
            _ => match spec.parse::<Fault>() {
                Ok(fault) => reply = reply.fault(fault),
                Err(err) => return Err(usage(&err.to_string())),
            },
        }
    }
    if let Some(seconds) = retry_after {
        reply = reply.retry_after(seconds);
        first = first.map(|(r, n)| (r.retry_after(seconds), n));
    }
    Ok((reply, first))
}
