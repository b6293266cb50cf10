"""Drives the end-to-end loopback benchmarks and prints Markdown tables (docs/benchmarks.md).

Called by run.sh, which installs the peers and builds `loopback-bench`; see there. Every
client is its own process, measured the same way: it reports its events, wall time, CPU time
of the streaming part and time to the first text event; its peak RSS is its own `VmHWM`
(`wait4`'s ru_maxrss would count the copy of this driver it was forked from).
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

MIB = 1 << 20
GIB = 1 << 30


class Run:
    """One client process: its own figures plus the kernel's."""

    def __init__(self, figures, maxrss_bytes, exit_code, timed_out, seconds):
        self.figures = figures
        # The client's own peak (VmHWM of its address space) when it reports one: `wait4`'s
        # ru_maxrss also counts the copy of this driver the child was forked from.
        self.maxrss = figures.get("peak_rss_bytes") or maxrss_bytes
        self.exit_code = exit_code
        self.timed_out = timed_out
        self.seconds = seconds

    def get(self, key, default=None):
        value = self.figures.get(key)
        return default if value is None else value


def launch(cmd, timeout, cwd=None):
    """Runs `cmd`, returns a Run (figures from its last JSON line, maxrss from wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    killed = threading.Event()

    def kill():
        killed.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    stderr_lines = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(proc.stderr), daemon=True)
    reader.start()
    out = proc.stdout.read()
    _, status, rusage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    timer.cancel()
    reader.join(timeout=1)
    seconds = time.perf_counter() - started
    figures = {}
    for line in out.decode(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                figures = json.loads(line)
            except json.JSONDecodeError:
                pass
    if not figures and not killed.is_set():
        tail = b"".join(stderr_lines[-5:]).decode(errors="replace").strip()
        figures = {"error": f"no figures (exit {proc.returncode}): {tail}"}
    return Run(figures, rusage.ru_maxrss * 1024, proc.returncode, killed.is_set(), seconds)


class Server:
    """`loopback-bench serve` in its own process; stops when its stdin closes."""

    def __init__(self, binary, profile, size=0):
        self.proc = subprocess.Popen(
            [binary, "serve", "--profile", profile, "--size", str(size)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        hello = json.loads(self.proc.stdout.readline())
        self.url = hello["url"]
        self.expected = hello["expected"]

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec, suffix=""):
    return "–" if value is None else f"{value:{spec}}{suffix}"


class Bench:
    def __init__(self, args):
        self.args = args
        self.binary = args.bin
        self.work = Path(args.work)
        self.clients = {
            "anthropic-stream, hyper": lambda url, tool: [
                self.binary, "client", "--transport", "hyper", "--url", url,
            ] + (["--tool"] if tool else []),
            "anthropic-stream, ureq": lambda url, tool: [
                self.binary, "client", "--transport", "ureq", "--url", url,
            ] + (["--tool"] if tool else []),
            "reqwest + eventsource-stream + serde": lambda url, tool: [
                self.binary, "client", "--transport", "reqwest", "--url", url,
            ],
        }
        self.ours = ["anthropic-stream, hyper", "anthropic-stream, ureq"]
        if not args.skip_peers:
            python = str(self.work / "venv" / "bin" / "python")
            script = str(Path(__file__).parent / "peers" / "python_client.py")
            self.clients["Python SDK (anthropic)"] = lambda url, tool: [
                python, script, url,
            ] + (["--tool"] if tool else [])
            node_dir = self.work / "node"
            self.clients["TypeScript SDK (@anthropic-ai/sdk)"] = lambda url, tool: [
                "node", str(node_dir / "ts_client.mjs"), url,
            ] + (["--tool"] if tool else [])
        self.failures = []

    def check(self, what, run, expected):
        error = run.get("error")
        if run.timed_out:
            return "timed out"
        if error:
            self.failures.append(f"{what}: {error}")
            return "error"
        if run.get("text_bytes") != expected["text_bytes"]:
            self.failures.append(
                f"{what}: text of {run.get('text_bytes')} bytes, expected {expected['text_bytes']}"
            )
            return "wrong text"
        if expected.get("tool_input_bytes") and run.get("tool_input_bytes") != expected["tool_input_bytes"]:
            self.failures.append(
                f"{what}: tool input of {run.get('tool_input_bytes')} bytes, "
                f"expected {expected['tool_input_bytes']}"
            )
            return "wrong input"
        return "ok"

    def throughput(self, profile, title):
        runs = {name: [] for name in self.clients}
        with Server(self.binary, profile) as server:
            for round in range(self.args.runs):
                for name, command in self.clients.items():
                    if round >= self.args.peer_runs and name not in self.ours:
                        continue
                    run = launch(command(server.url, False), self.args.timeout)
                    run.status = self.check(f"{profile} / {name}", run, server.expected)
                    runs[name].append(run)
        rows = {}
        for name, results in runs.items():
            good = [r for r in results if r.status == "ok"]
            rows[name] = {
                "events_per_s": median([r.get("events") / r.get("elapsed_s") for r in good]),
                "cpu_us": median([1e6 * r.get("cpu_s") / r.get("events") for r in good if r.get("events")]),
                "first_ms": median([1e3 * r.get("first_text_s") for r in good if r.get("first_text_s") is not None]),
                "rss_mib": median([r.maxrss / MIB for r in good]),
                "status": ", ".join(sorted({r.status for r in results})),
                "events": median([r.get("events") for r in good]),
            }
        print(f"\n### {title}\n")
        print("| client | events/s | CPU per event | first text | peak RSS | runs | hyper's events/s ÷ this |")
        print("|---|---|---|---|---|---|---|")
        base = rows["anthropic-stream, hyper"]["events_per_s"]
        for name, row in rows.items():
            ratio = None
            if base and row["events_per_s"]:
                ratio = base / row["events_per_s"]
            print(
                f"| {name} | {fmt(row['events_per_s'], ',.0f')} | {fmt(row['cpu_us'], '.2f', ' µs')} "
                f"| {fmt(row['first_ms'], '.2f', ' ms')} | {fmt(row['rss_mib'], '.1f', ' MiB')} "
                f"| {len(runs[name])} × {row['status']} | {fmt(ratio, '.2f', '×')} |"
            )
        return rows

    def tool_input(self):
        sizes = [16 * 1024, 64 * 1024, 256 * 1024, MIB, 4 * MIB]
        if self.args.quick:
            sizes = [16 * 1024, 64 * 1024]
        print("\n### Tool input in 8-byte deltas, the snapshot read after every delta\n")
        print("| client | " + " | ".join(self.size_name(s) for s in sizes) + " |")
        print("|---|" + "---|" * len(sizes))
        table = {name: [] for name in self.clients}
        gave_up = set()
        for size in sizes:
            with Server(self.binary, "tool", size) as server:
                for name, command in self.clients.items():
                    if name in gave_up:
                        table[name].append("not run (a smaller size timed out)")
                        continue
                    runs = self.args.runs if name in self.ours else self.args.peer_runs
                    results = []
                    for _ in range(runs):
                        run = launch(command(server.url, True), self.args.tool_timeout)
                        run.status = self.check(f"tool {size} / {name}", run, server.expected)
                        results.append(run)
                    good = [r for r in results if r.status == "ok"]
                    if good:
                        seconds = median([r.get("elapsed_s") for r in good])
                        snapshots = good[0].get("snapshots")
                        note = f" ({snapshots:,} snapshots)" if snapshots else " (no snapshot API)"
                        table[name].append(f"{seconds * 1e3:,.0f} ms{note}")
                    else:
                        status = results[0].status
                        if status == "timed out":
                            gave_up.add(name)
                            table[name].append(f"> {self.args.tool_timeout:.0f} s (stopped)")
                        else:
                            table[name].append(status)
        for name, cells in table.items():
            print(f"| {name} | " + " | ".join(cells) + " |")

    @staticmethod
    def size_name(size):
        return f"{size // MIB} MiB" if size >= MIB else f"{size // 1024} KiB"

    def concurrency(self):
        streams = 100 if self.args.quick else 1000
        print(f"\n### {streams:,} concurrent streams through the hyper transport, one process\n")
        print("| HTTP | completed with the right message | total time | RSS per stream | RSS per stream beyond the message | peak RSS |")
        print("|---|---|---|---|---|---|")
        for http in (1, 2):
            with Server(self.binary, "concurrent") as server:
                run = launch(
                    [self.binary, "concurrency", "--url", server.url, "--streams", str(streams), "--http", str(http)],
                    self.args.timeout,
                )
            f = run.figures
            if "right_message" not in f:
                self.failures.append(f"concurrency http{http}: {f.get('error')}")
                print(f"| {http} | failed: {f.get('error')} | | | | |")
                continue
            if f["right_message"] != streams:
                self.failures.append(f"concurrency http{http}: {f['right_message']} of {streams} right")
            label = "HTTP/1.1, a connection each" if http == 1 else "HTTP/2, one connection"
            print(
                f"| {label} | {f['right_message']:,} of {streams:,} | {f['elapsed_s']:.2f} s "
                f"| {f['rss_per_stream_bytes'] / 1024:.1f} KiB "
                f"| {f['rss_per_stream_beyond_message_bytes'] / 1024:.1f} KiB "
                f"| {f['peak_rss_bytes'] / MIB:.1f} MiB |"
            )

    def hostile(self):
        size = 64 * MIB if self.args.quick else GIB
        print(f"\n### Memory under a {self.size_name(size)} stream\n")
        print("| stream | client | outcome | peak RSS | bound | within |")
        print("|---|---|---|---|---|---|")
        event_limit = 16 * MIB
        for profile, label in (("huge-line", "one line, no line ending"), ("big", "ordinary text deltas")):
            with Server(self.binary, profile, size) as server:
                for name in self.ours:
                    run = launch(self.clients[name](server.url, False), self.args.timeout)
                    if profile == "huge-line":
                        error = run.get("error") or ""
                        outcome = error if error else "no error (wrong)"
                        bound = event_limit + 16 * MIB
                        ok = bool(error) and "limit" in error.lower()
                    else:
                        status = self.check(f"big / {name}", run, server.expected)
                        outcome = f"{status}: {run.get('text_bytes', 0) / MIB:.1f} MiB of text"
                        bound = run.get("text_bytes", 0) + 16 * MIB
                        ok = status == "ok"
                    within = ok and run.maxrss <= bound
                    if not within:
                        self.failures.append(f"{profile} / {name}: {outcome}, RSS {run.maxrss}")
                    outcome = outcome.replace("|", "\\|")
                    if len(outcome) > 110:
                        outcome = outcome[:107] + "..."
                    print(
                        f"| {label} | {name} | {outcome} | {run.maxrss / MIB:.1f} MiB "
                        f"| {bound / MIB:.1f} MiB | {'yes' if within else 'NO'} |"
                    )


def versions(work, skip_peers, build):
    lines = []
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines.append(f"- machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}")
    rustc = subprocess.run(["rustc", "-V"], capture_output=True, text=True).stdout.strip()
    lines.append(f"- Rust: {rustc}, {build} profile")
    lock = Path(__file__).resolve().parents[2] / "Cargo.lock"
    try:
        text = lock.read_text()
        for crate in ("hyper", "ureq", "reqwest", "eventsource-stream", "serde_json", "tokio"):
            match = re.search(rf'name = "{re.escape(crate)}"\nversion = "([^"]+)"', text)
            if match:
                lines.append(f"- {crate} {match.group(1)}")
    except OSError:
        pass
    if not skip_peers:
        python = work / "venv" / "bin" / "python"
        out = subprocess.run(
            [str(python), "-c", "import sys, anthropic; print(anthropic.__version__, sys.version.split()[0])"],
            capture_output=True, text=True,
        ).stdout.split()
        if out:
            lines.append(f"- Python SDK: anthropic {out[0]} on CPython {out[1]}")
        package = work / "node" / "node_modules" / "@anthropic-ai" / "sdk" / "package.json"
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        try:
            sdk = json.loads(package.read_text())["version"]
            lines.append(f"- TypeScript SDK: @anthropic-ai/sdk {sdk} on Node.js {node}")
        except (OSError, KeyError, json.JSONDecodeError):
            pass
    return lines


def main():
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True, help="the loopback-bench binary")
    parser.add_argument("--work", required=True, help="where run.sh installed the peers")
    parser.add_argument("--runs", type=int, default=3, help="runs per client (medians)")
    parser.add_argument("--peer-runs", type=int, default=1,
                        help="runs per peer client (the Python SDK takes minutes per run)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per client run")
    parser.add_argument("--tool-timeout", type=float, default=60, help="seconds per tool run")
    parser.add_argument("--build", default="release", help="the cargo profile of --bin (for the report)")
    parser.add_argument("--skip-peers", action="store_true", help="only the Rust clients")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", action="append", default=[],
                        help="run only these parts: fast, paced, tool, concurrency, hostile")
    args = parser.parse_args()
    if not args.skip_peers and shutil.which("node") is None:
        sys.exit("node is needed for the TypeScript SDK (or pass --skip-peers)")
    bench = Bench(args)
    parts = args.only or ["fast", "paced", "tool", "concurrency", "hostile"]
    print(f"## Loopback benchmarks, {time.strftime('%Y-%m-%d')}\n")
    print("\n".join(versions(Path(args.work), args.skip_peers, args.build)))
    print(f"- {args.runs} runs of each of our clients, {args.peer_runs} of each peer; medians; ratios from this run")
    results = {}
    if "fast" in parts:
        results["fast"] = bench.throughput("fast", "200,000 text deltas as fast as the server writes them")
    if "paced" in parts:
        results["paced"] = bench.throughput("paced", "1,000 text deltas, one every 5 ms")
    if "tool" in parts:
        bench.tool_input()
    if "concurrency" in parts:
        bench.concurrency()
    if "hostile" in parts:
        bench.hostile()
    if "fast" in results and not args.skip_peers:
        rows = results["fast"]
        print("\n### Targets (200,000 deltas as fast as possible)\n")
        for ours in bench.ours:
            mine = rows[ours]
            for peer, target in (("Python SDK (anthropic)", 20), ("TypeScript SDK (@anthropic-ai/sdk)", 5)):
                theirs = rows[peer]["events_per_s"]
                if mine["events_per_s"] and theirs:
                    ratio = mine["events_per_s"] / theirs
                    met = "met" if ratio >= target else "NOT met"
                    print(f"- {ours}: {ratio:.1f}× the events/s of the {peer} (target {target}×): {met}")
            cpu = mine["cpu_us"]
            if cpu is not None:
                print(f"- {ours}: {cpu:.2f} µs CPU per event (target under 1 µs): {'met' if cpu < 1 else 'NOT met'}")
    if bench.failures:
        print("\n### Failures\n")
        for failure in bench.failures:
            print(f"- {failure}")
        sys.exit(1)


if __name__ == "__main__":
    main()
