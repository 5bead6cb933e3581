// node:test helpers for wssniff: the proxy in front of your WebSocket server, its records as
// they stream, and expectations checked by `wssniff expect` (the same semantics as the command
// line and the C++ matchers: nothing is matched here).
//
//   import { test } from 'node:test';
//   import { startSniffer } from './wssniff.mjs';
//
//   test('subscribe', async (t) => {
//     const sniff = await startSniffer(t, { upstream: 'ws://127.0.0.1:9000' });
//     await runMyClient(`${sniff.url}/feed`);          // point the client at the proxy
//     await sniff.waitFor((rs) => rs.some((r) => r.type === 'close'));
//     await sniff.expectSequence({ steps: [
//       { dir: 'c2s', json: { op: 'subscribe' }, bind: { id: '/id' } },
//       { dir: 's2c', json: { op: 'ack' }, equal: { '/id': 'id' } },
//     ] });
//   });
//
// The binary is options.binary, else $WSSNIFF, else `wssniff` on PATH. The proxy is stopped
// when the test ends (t.after); a failed expectation's error carries wssniff's report and the
// capture file's path, and a failed waitFor or expectSequence writes the capture's records as
// the test's diagnostics (t.diagnostic).

import { spawn, execFile } from 'node:child_process';
import { AssertionError } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function run(binary, args) {
  return new Promise((resolve) => {
    execFile(binary, args, { timeout: 30000 }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : 2) : 0, stdout, stderr });
    });
  });
}

export class Sniffer {
  constructor(child, capturePath, binary, t) {
    this.child = child;
    this.t = t;
    this.capturePath = capturePath;
    this.binary = binary;
    this.records = []; // parsed, in the order written; grows while the proxy runs
    this.port = null;
    this.url = null;
    this.stderr = '';
    this._offset = 0;
    this._pending = '';
    this._timer = null;
  }

  _poll() {
    let fd;
    try {
      fd = fs.openSync(this.capturePath, 'r');
    } catch {
      return;
    }
    try {
      const buffer = Buffer.alloc(65536);
      for (;;) {
        const n = fs.readSync(fd, buffer, 0, buffer.length, this._offset);
        if (n <= 0) break;
        this._offset += n;
        this._pending += buffer.subarray(0, n).toString('utf8');
      }
    } finally {
      fs.closeSync(fd);
    }
    const lines = this._pending.split('\n');
    this._pending = lines.pop();
    for (const line of lines) {
      if (line.trim()) this.records.push(JSON.parse(line));
    }
  }

  // Resolves with the records once predicate(records) holds; rejects with an AssertionError
  // (the last records in its message) after `timeout` ms.
  async waitFor(predicate, timeout = 5000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      this._poll();
      if (predicate(this.records)) return this.records;
      if (Date.now() >= deadline) {
        const tail = this.records.slice(-10).map((r) => JSON.stringify(r)).join('\n');
        this._attach();
        throw new AssertionError({
          message: `wssniff: condition not met within ${timeout} ms (${this.records.length} records, ` +
            `capture ${this.capturePath}); the last ones:\n${tail}`,
        });
      }
      await sleep(10);
    }
  }

  // Runs `wssniff expect CAPTURE --spec SPEC` until it matches or `timeout` ms pass. `spec` is
  // the JSON form (schemas/expectation.schema.json) as an object, or a file path. Rejects with
  // an AssertionError holding wssniff's report, or an Error for a spec wssniff cannot use.
  async expectSequence(spec, { conn, timeout = 5000 } = {}) {
    let specPath = spec;
    if (typeof spec !== 'string') {
      specPath = this.capturePath.replace(/\.ndjson$/, '') + '.expect.json';
      fs.writeFileSync(specPath, JSON.stringify(spec, null, 2));
    }
    const args = ['expect', this.capturePath, '--spec', specPath];
    if (conn !== undefined) args.push('--conn', String(conn));
    const deadline = Date.now() + timeout;
    for (;;) {
      const r = await run(this.binary, args);
      if (r.status === 0) return;
      if (r.status !== 1) throw new Error(r.stderr.trim());
      if (Date.now() >= deadline) {
        this._attach();
        throw new AssertionError({ message: `${r.stderr}capture: ${this.capturePath}` });
      }
      await sleep(50);
    }
  }

  // SIGTERM; resolves with the exit status once the proxy has exited and its records are read.
  async stop(timeout = 5000) {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeout);
      await exited;
      clearTimeout(timer);
    }
    this._poll();
    return this.child.exitCode;
  }

  _attach() {
    if (this.t && typeof this.t.diagnostic === 'function') {
      this.t.diagnostic(`wssniff capture ${this.captureText()}`);
    }
  }

  captureText(maxLines = 200) {
    let lines = [];
    try {
      lines = fs.readFileSync(this.capturePath, 'utf8').split('\n').filter((l) => l);
    } catch (e) {
      return `${this.capturePath}: ${e.message}`;
    }
    const more = lines.length > maxLines ? `\n... ${lines.length - maxLines} more lines` : '';
    return `${this.capturePath} (${lines.length} records)\n${lines.slice(0, maxLines).join('\n')}${more}`;
  }
}

// Starts `wssniff proxy --listen 127.0.0.1:0 --upstream UPSTREAM --output FILE [args]` and
// resolves with its Sniffer once it listens. With a node:test context `t` the proxy stops when
// the test ends, and failed waits and expectations add the capture to its diagnostics.
export async function startSniffer(t, { upstream, args = [], binary, dir } = {}) {
  const bin = binary || process.env.WSSNIFF || 'wssniff';
  const folder = dir || fs.mkdtempSync(path.join(os.tmpdir(), 'wssniff-'));
  const capturePath = path.join(folder, `capture-${process.pid}-${Date.now()}.ndjson`);
  const child = spawn(bin, ['proxy', '--listen', '127.0.0.1:0', '--upstream', upstream,
    '--output', capturePath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const sniff = new Sniffer(child, capturePath, bin, t);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wssniff proxy did not start: ${sniff.stderr}`)), 10000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      sniff.stderr += chunk;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(sniff.stderr);
      if (m && sniff.port === null) {
        sniff.port = Number(m[1]);
        sniff.url = `ws://127.0.0.1:${sniff.port}`;
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (sniff.port === null) reject(new Error(`wssniff proxy exited ${code}: ${sniff.stderr}`));
    });
  });
  if (t && typeof t.after === 'function') {
    t.after(async () => {
      await sniff.stop();
    });
  }
  return sniff;
}
