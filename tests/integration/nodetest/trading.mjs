// The trading scenario on npm ws, in the test process: a server on a free port (acks with the
// client's id, or id + offset, then two trades) and a client that subscribes, reads three
// messages and closes.

import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const WebSocket = require(path.join(here, '..', '..', 'peers', 'node_modules', 'ws'));

export function tradingServer(ackOffset = 0) {
  return new Promise((resolve) => {
    const server = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0 });
    server.on('connection', (ws) => {
      ws.once('message', (data) => {
        const request = JSON.parse(data.toString());
        ws.send(JSON.stringify({ op: 'ack', id: request.id + ackOffset }));
        for (const price of [101.5, 101.75]) ws.send(JSON.stringify({ type: 'trade', price }));
      });
    });
    server.on('listening', () => {
      resolve({
        url: `ws://127.0.0.1:${server.address().port}`,
        close: () => new Promise((done) => {
          for (const c of server.clients) c.terminate();
          server.close(done);
        }),
      });
    });
  });
}

export function tradingClient(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let seen = 0;
    ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', id: 5 })));
    ws.on('message', () => {
      seen += 1;
      if (seen === 3) ws.close(1000, 'done');
    });
    ws.on('close', () => resolve());
    ws.on('error', reject);
  });
}
