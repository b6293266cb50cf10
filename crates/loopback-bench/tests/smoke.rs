//! The benchmark binary works end to end on small sizes: the server serves each profile, every
//! Rust client gets the right message and reports its figures, the concurrency run completes,
//! and a huge line ends in the typed limit error. (`run.sh` runs the real sizes.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_loopback-bench");

struct Serve {
    child: Child,
    hello: Value,
}

impl Serve {
    fn start(profile: &str, size: u64) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--profile", profile, "--size", &size.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let hello = serde_json::from_str(&line).expect("one JSON line first");
        Self { child, hello }
    }

    fn url(&self) -> &str {
        self.hello["url"].as_str().unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn run(args: &[&str]) -> (bool, Value) {
    let output = Command::new(BIN).args(args).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = stdout.lines().last().unwrap_or_default();
    (output.status.success(), serde_json::from_str(line).unwrap())
}

#[test]
fn every_rust_client_gets_the_tool_call_and_reports_figures() {
    let server = Serve::start("tool", 4096);
    let expected = server.hello["expected"].clone();
    for transport in ["hyper", "ureq", "reqwest"] {
        let (ok, figures) = run(&[
            "client",
            "--transport",
            transport,
            "--url",
            server.url(),
            "--tool",
        ]);
        assert!(ok, "{transport}: {figures}");
        assert_eq!(figures["text_bytes"], expected["text_bytes"], "{transport}");
        assert_eq!(
            figures["tool_input_bytes"], expected["tool_input_bytes"],
            "{transport}"
        );
        assert!(figures["events"].as_u64().unwrap() > 500, "{transport}");
        assert!(figures["cpu_s"].as_f64().unwrap() > 0.0, "{transport}");
        assert!(
            figures["first_text_s"].as_f64().unwrap() > 0.0,
            "{transport}"
        );
        if transport != "reqwest" {
            // One snapshot per input delta: 4096 bytes in 8-byte deltas, about 512.
            assert!(figures["snapshots"].as_u64().unwrap() > 400, "{transport}");
        }
    }
}

#[test]
fn concurrent_streams_complete_over_both_http_versions() {
    let server = Serve::start("concurrent", 0);
    for http in ["1", "2"] {
        let (ok, report) = run(&[
            "concurrency",
            "--url",
            server.url(),
            "--streams",
            "20",
            "--http",
            http,
        ]);
        assert!(ok, "HTTP/{http}: {report}");
        assert_eq!(report["right_message"], 20, "HTTP/{http}");
        assert!(report["peak_rss_bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn a_huge_line_is_the_typed_limit_error() {
    let server = Serve::start("huge-line", 64 << 20);
    for transport in ["hyper", "ureq"] {
        let (ok, figures) = run(&["client", "--transport", transport, "--url", server.url()]);
        assert!(!ok, "{transport}");
        let error = figures["error"].as_str().unwrap();
        assert!(error.contains("limit"), "{transport}: {error}");
    }
}
