"""The official Python SDK streaming one message from the loopback server.

    python python_client.py BASE_URL [--tool]

Prints one JSON line with the same figures as `loopback-bench client`.
"""

import json
import sys
import time

import anthropic

RAW = {
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
}


def main() -> int:
    url = sys.argv[1]
    tool = "--tool" in sys.argv[2:]
    client = anthropic.Anthropic(base_url=url, api_key="sk-bench-loopback", max_retries=0)
    events = snapshots = 0
    first_text = None
    error = None
    text_bytes = tool_bytes = 0
    cpu = time.process_time()
    started = time.perf_counter()
    try:
        with client.messages.stream(
            model="claude-bench",
            max_tokens=1024,
            messages=[{"role": "user", "content": "Write at length."}],
        ) as stream:
            for event in stream:
                kind = event.type
                if kind in RAW:
                    events += 1
                elif kind == "text":
                    if first_text is None:
                        first_text = time.perf_counter() - started
                elif kind == "input_json" and tool:
                    if event.snapshot is not None:
                        snapshots += 1
            message = stream.get_final_message()
        text_bytes = sum(len(b.text.encode()) for b in message.content if b.type == "text")
        for block in message.content:
            if block.type == "tool_use":
                tool_bytes = len(
                    json.dumps(block.input, separators=(",", ":"), ensure_ascii=False).encode()
                )
                break
    except Exception as exc:  # the figures say what failed
        error = f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    peak_rss = 0
    with open("/proc/self/status") as status:  # this process's own peak, not its parent's
        for line in status:
            if line.startswith("VmHWM:"):
                peak_rss = int(line.split()[1]) * 1024
    print(
        json.dumps(
            {
                "events": events,
                "snapshots": snapshots,
                "first_text_s": first_text,
                "elapsed_s": elapsed,
                "cpu_s": cpu,
                "text_bytes": text_bytes,
                "tool_input_bytes": tool_bytes,
                "error": error,
                "peak_rss_bytes": peak_rss,
            }
        )
    )
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
