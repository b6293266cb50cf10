//! `anthropic-stream`: stream a Claude reply to the terminal as it arrives; decode and
//! accumulate recorded streams; run the local Messages server.
//!
//! With no API key in the environment and no `--base-url`, it streams a generated reply from a
//! local Messages server started in-process, so it runs on a fresh machine with no network.
#![forbid(unsafe_code)]

mod args;
mod contract;
mod serve;
mod sse;
mod stream;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

/// Exit statuses, as `--help` lists them.
pub(crate) mod exit {
    /// Success.
    pub(crate) const OK: u8 = 0;
    /// An API error: an error status, or an `error` event in the stream.
    pub(crate) const API: u8 = 1;
    /// A usage error: bad arguments, parameters or configuration.
    pub(crate) const USAGE: u8 = 2;
    /// A transport failure or a deadline.
    pub(crate) const TRANSPORT: u8 = 3;
    /// A protocol error or a truncated stream.
    pub(crate) const PROTOCOL: u8 = 4;
    /// Interrupted (Ctrl-C).
    pub(crate) const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Decode) => contract::decode(),
        Some(Command::Accumulate) => contract::accumulate(),
        Some(Command::Serve(args)) => serve::run(&args),
        Some(Command::Sse(args)) => sse::run(&args),
        None => stream::run(&cli.stream),
    };
    ExitCode::from(code)
}

/// Prints a usage error (one line) and returns the usage exit status.
pub(crate) fn usage(message: &str) -> u8 {
    eprintln!("anthropic-stream: {message}");
    exit::USAGE
}

/// Runs `work` on a multi-threaded runtime until it ends or Ctrl-C; returns its exit status.
pub(crate) fn run_until_interrupted(work: impl Future<Output = u8> + Send + 'static) -> u8 {
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
    runtime.block_on(async move {
        tokio::select! {
            code = work => code,
            _ = tokio::signal::ctrl_c() => interrupted(),
        }
    })
}

/// Ends the process on Ctrl-C. An async stream (and its connection) was dropped with the work
/// it belonged to; a blocking read in progress cannot be interrupted, so the process ends and
/// the system closes its sockets at once.
#[allow(clippy::exit)]
fn interrupted() -> ! {
    let _ = std::io::Write::flush(&mut std::io::stdout());
    eprintln!("\nanthropic-stream: interrupted");
    std::process::exit(i32::from(exit::INTERRUPTED))
}
