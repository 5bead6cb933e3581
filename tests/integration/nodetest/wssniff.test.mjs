// js/wssniff.mjs under node --test against an npm ws server: streamed records, waitFor,
// expectSequence passing and failing, and a deliberately failing test file run in a child
// process whose output is checked.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startSniffer } from '../../../js/wssniff.mjs';
import { tradingClient, tradingServer } from './trading.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const SPEC = {
  steps: [
    { dir: 'c2s', op: 'text', json: { op: 'subscribe' }, bind: { id: '/id' } },
    { dir: 's2c', json: { op: 'ack' }, equal: { '/id': 'id' } },
    { dir: 's2c', json: { type: 'trade' }, min: 2, max: 2 },
    { dir: 'c2s', op: 'close', close_code: 1000, close_reason: 'done' },
  ],
};

test('records stream and the sequence matches', async (t) => {
  const server = await tradingServer();
  t.after(() => server.close());
  const sniff = await startSniffer(t, { upstream: server.url });
  await tradingClient(`${sniff.url}/feed`);
  const records = await sniff.waitFor((rs) => rs.some((r) => r.type === 'close'));
  assert.equal(records[0].type, 'handshake');
  assert.equal(records[0].target, '/feed');
  await sniff.expectSequence(SPEC);
});

test('a sequence that does not match rejects with the report', async (t) => {
  const server = await tradingServer();
  t.after(() => server.close());
  const sniff = await startSniffer(t, { upstream: server.url });
  await tradingClient(sniff.url);
  const wrong = { steps: [SPEC.steps[0], { dir: 's2c', json: { op: 'nack' } }] };
  await assert.rejects(sniff.expectSequence(wrong, { timeout: 200 }), (e) => {
    assert.ok(e instanceof assert.AssertionError);
    assert.match(e.message, /expectation not met: step 2 of 2 not matched/);
    assert.match(e.message, /closest candidate s2c #0: \/op was "ack", expected "nack"/);
    assert.ok(e.message.includes(`capture: ${sniff.capturePath}`));
    return true;
  });
  await assert.rejects(sniff.expectSequence({ steps: [{ dir: 'up' }] }),
    /\/steps\/0\/dir: "up" is not a direction/);
});

test('a deliberately failing test shows the report and the capture', async () => {
  // A child `node --test` of its own: without the parent's test context in its environment.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const result = await new Promise((resolve) => {
    execFile(process.execPath, ['--test', path.join(here, 'failing', 'deliberately_failing.mjs')],
      { timeout: 60000, env }, (error, stdout, stderr) => {
        resolve({ code: error ? error.code : 0, out: stdout + stderr });
      });
  });
  assert.equal(result.code, 1, result.out);
  assert.match(result.out, /# fail 1/);
  assert.match(result.out, /expectation not met: step 2 of 2 not matched/);
  assert.match(result.out, /closest candidate s2c #0: \/id was 7, expected 5 \(bound at c2s #0\)/);
  assert.match(result.out, /# wssniff capture .*\(\d+ records\)/);
});
