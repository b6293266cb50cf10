#!/usr/bin/env bash
# Runs fuzz targets for a time or an execution budget each, one after the other, and prints a
# Markdown summary: executions, rate, coverage (libFuzzer's `cov` and `ft`), corpus size,
# crashes. Needs the nightly toolchain and cargo-fuzz (installed when missing).
#
#   fuzz/run-long.sh --runs 10000000                 # every target, 10 million executions each
#   fuzz/run-long.sh --seconds 600 sse_decoder        # one target, ten minutes
#   JOBS=2 fuzz/run-long.sh --seconds 3600            # two fuzzing processes per target
#   fuzz/run-long.sh --runs 10000000 --max-len 512 accumulator   # shorter inputs, more of them
#   fuzz/run-long.sh --sanitizer none --runs 10000000 # no AddressSanitizer: safe Rust, 2-3x faster
#
# The corpus of each target persists in fuzz/corpus/<target> (seeded from the recorded streams
# and fuzz/regressions/<target>); logs go to fuzz/logs/<target>.log; crashes to
# fuzz/artifacts/<target>/. Keep what matters with `cargo +nightly fuzz cmin <target>` and a
# copy into fuzz/regressions/<target>/, which `cargo test` replays.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")"

budget=(-max_total_time=600)
max_len=()
sanitizer=(-s address)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) budget=(-runs="$2"); shift 2 ;;
    --seconds) budget=(-max_total_time="$2"); shift 2 ;;
    --max-len) max_len=(-max_len="$2"); shift 2 ;;
    --sanitizer) sanitizer=(-s "$2"); shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
jobs="${JOBS:-1}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
cargo +nightly fuzz build "${sanitizer[@]}" >/dev/null

mkdir -p logs
rows=()
for target in "${targets[@]}"; do
  corpus="corpus/$target"
  mkdir -p "$corpus" "artifacts/$target"
  cp ../fixtures/anthropic/*/* "$corpus/" 2>/dev/null || true
  [ -d "regressions/$target" ] && cp "regressions/$target"/* "$corpus/" 2>/dev/null || true
  # Crashes, leaks, timeouts and out-of-memory inputs; a slow unit is reported apart (a
  # stopped or starved process also produces one).
  findings() { find "artifacts/$target" -type f ! -name 'slow-unit-*' | wc -l; }
  slow() { find "artifacts/$target" -type f -name 'slow-unit-*' | wc -l; }
  crashes_before=$(findings)
  slow_before=$(slow)
  log="logs/$target.log"
  started=$SECONDS
  extra=()
  [ "$jobs" -gt 1 ] && extra=(-jobs="$jobs" -workers="$jobs")
  cargo +nightly fuzz run "${sanitizer[@]}" "$target" "$corpus" -- "${budget[@]}" "${max_len[@]}" "${extra[@]}" \
      -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || true
  elapsed=$((SECONDS - started))
  execs=$(cat "$log" fuzz-*.log | awk '/stat::number_of_executed_units/ {s += $2} END {print s + 0}')
  rm -f fuzz-*.log
  last=$(awk '/^#[0-9]+/ {line = $0} END {print line}' "$log")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus_files=$(find "$corpus" -type f | wc -l)
  crashes=$(( $(findings) - crashes_before ))
  slow_units=$(( $(slow) - slow_before ))
  rate=$(( elapsed > 0 ? execs / elapsed : 0 ))
  rows+=("| \`$target\` | $execs | ${elapsed} s | $rate/s | ${cov:-?} | ${ft:-?} | $corpus_files | $crashes | $slow_units |")
done

echo "| target | executions | time | rate | cov | ft | corpus | new crashes | slow units |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
