// The official TypeScript SDK streaming one message from the loopback server.
//
//     node ts_client.mjs BASE_URL [--tool]
//
// Prints one JSON line with the same figures as `loopback-bench client`. Run from the folder
// where `npm install @anthropic-ai/sdk` put node_modules (run.sh copies it there).
import { readFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';

const [url, ...rest] = process.argv.slice(2);
const tool = rest.includes('--tool');
const client = new Anthropic({ baseURL: url, apiKey: 'sk-bench-loopback', maxRetries: 0 });
let events = 0;
let snapshots = 0;
let firstText = null;
let error = null;
let textBytes = 0;
let toolBytes = 0;
const cpu = process.cpuUsage();
const started = performance.now();
try {
  const stream = client.messages.stream({
    model: 'claude-bench',
    max_tokens: 1024,
    messages: [{ role: 'user', content: 'Write at length.' }],
  });
  stream.on('streamEvent', () => {
    events += 1;
  });
  stream.on('text', () => {
    if (firstText === null) firstText = (performance.now() - started) / 1000;
  });
  if (tool) {
    stream.on('inputJson', (_partial, snapshot) => {
      if (snapshot !== undefined) snapshots += 1;
    });
  }
  const message = await stream.finalMessage();
  for (const block of message.content) {
    if (block.type === 'text') textBytes += Buffer.byteLength(block.text);
  }
  const call = message.content.find((block) => block.type === 'tool_use');
  if (call) toolBytes = Buffer.byteLength(JSON.stringify(call.input));
} catch (err) {
  error = `${err.name}: ${err.message}`;
}
const elapsed = (performance.now() - started) / 1000;
const used = process.cpuUsage(cpu);
// This process's own peak (getrusage's maxRSS would include the parent it was forked from).
const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
const peakRss = hwm ? Number(hwm[1]) * 1024 : 0;
console.log(
  JSON.stringify({
    events,
    snapshots,
    first_text_s: firstText,
    elapsed_s: elapsed,
    cpu_s: (used.user + used.system) / 1e6,
    text_bytes: textBytes,
    tool_input_bytes: toolBytes,
    error,
    peak_rss_bytes: peakRss,
  }),
);
process.exitCode = error ? 1 : 0;
