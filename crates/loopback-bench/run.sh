#!/usr/bin/env bash
# End-to-end loopback benchmarks: our hyper and ureq transports, the official Python and
# TypeScript SDKs and a reqwest + eventsource-stream + serde stack against the same local
# server in one run; then tool input, 1,000 concurrent streams and memory under a 1 GiB stream.
# Prints Markdown tables (see docs/benchmarks.md). Installs the peers from the package
# registries into target/loopback-bench/ (a Python virtual environment, an npm folder).
#
#   crates/loopback-bench/run.sh                     # everything, 3 runs per client
#   crates/loopback-bench/run.sh --runs 5            # more runs for the medians
#   crates/loopback-bench/run.sh --only fast --only tool
#   crates/loopback-bench/run.sh --skip-peers --quick   # Rust clients only, small sizes
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$root/target/loopback-bench"
mkdir -p "$work"

skip_peers=false
for arg in "$@"; do
  [ "$arg" = "--skip-peers" ] && skip_peers=true
done

if ! $skip_peers; then
  if [ ! -x "$work/venv/bin/python" ]; then
    python3 -m venv "$work/venv"
  fi
  "$work/venv/bin/pip" install --quiet --upgrade anthropic >&2
  mkdir -p "$work/node"
  [ -f "$work/node/package.json" ] || echo '{"private": true}' > "$work/node/package.json"
  npm install --prefix "$work/node" --silent --no-audit --no-fund @anthropic-ai/sdk@latest >&2
  cp "$here/peers/ts_client.mjs" "$work/node/"
fi

profile="${BENCH_PROFILE:-release}"
if [ "$profile" = "release" ]; then
  cargo build --quiet --release -p loopback-bench >&2
else
  cargo build --quiet -p loopback-bench >&2
fi
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin_dir="$target_dir/release"
[ "$profile" = "release" ] || bin_dir="$target_dir/debug"
exec python3 "$here/run.py" --bin "$bin_dir/loopback-bench" --work "$work" --build "$profile" "$@"
