// Fails on purpose (run by wssniff.test.mjs in a child process): the server acks with another
// id than the client's.

import { test } from 'node:test';

import { startSniffer } from '../../../../js/wssniff.mjs';
import { tradingClient, tradingServer } from '../trading.mjs';

test('the ack carries the id', async (t) => {
  const server = await tradingServer(2);
  t.after(() => server.close());
  const sniff = await startSniffer(t, { upstream: server.url });
  await tradingClient(sniff.url);
  await sniff.expectSequence({
    steps: [
      { dir: 'c2s', json: { op: 'subscribe' }, bind: { id: '/id' } },
      { dir: 's2c', json: { op: 'ack' }, equal: { '/id': 'id' } },
    ],
  }, { timeout: 200 });
});
