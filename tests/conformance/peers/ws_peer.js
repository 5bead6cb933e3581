'use strict';
// npm ws 8.x as a conformance peer.
//
//   node ws_peer.js server   echo server on 127.0.0.1 (permessage-deflate accepted as offered,
//                            every echo compressed), prints "listening PORT", exits at EOF on
//                            stdin
//   node ws_peer.js client   the client peer protocol of driver.py: JSON lines in
//                            ({"url", "deflate", "timeout"}), one JSON line out per connection

const crypto = require('crypto');
const path = require('path');
const readline = require('readline');

const WebSocket = require(path.join(__dirname, '..', '..', 'peers', 'node_modules', 'ws'));

// Large enough for the biggest case (16 MiB) with room to spare; ws's default is 100 MiB.
const maxPayload = 64 * 1024 * 1024;
// threshold 0: compress every message, however short, so that small cases exercise deflate too.
const deflateOptions = { threshold: 0 };

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function runServer() {
  const server = new WebSocket.Server(
    { host: '127.0.0.1', port: 0, perMessageDeflate: deflateOptions, maxPayload },
    () => process.stdout.write(`listening ${server.address().port}\n`));
  server.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {}); // the driver sees the close code ws sends
  });
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => process.exit(0));
}

function connectOnce(request) {
  return new Promise((resolve) => {
    const report = {
      opened: false, messages: [], close_code: null, close_reason: null, clean: false,
      error: null,
    };
    let ws;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(report);
    };
    const timer = setTimeout(() => {
      report.error = 'timeout';
      if (ws) ws.terminate();
      finish();
    }, request.timeout * 1000);
    try {
      ws = new WebSocket(request.url, {
        perMessageDeflate: request.deflate ? deflateOptions : false, maxPayload,
      });
    } catch (e) {
      report.error = String(e.message || e);
      finish();
      return;
    }
    ws.on('open', () => { report.opened = true; });
    ws.on('message', (data, isBinary) => {
      report.messages.push({ type: isBinary ? 'binary' : 'text', sha256: sha256(data),
                             len: data.length });
      ws.send(data, { binary: isBinary });
    });
    ws.on('error', (e) => { if (!report.error) report.error = String(e.message || e); });
    ws.on('close', (code, reason) => {
      // 1005: a close frame without a code, 1006: no close frame (RFC 6455 §7.1.5).
      if (code !== 1005 && code !== 1006) {
        report.close_code = code;
        report.close_reason = reason.toString('utf8');
      }
      report.clean = code !== 1006 && !report.error;
      finish();
    });
  });
}

async function runClient() {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const report = await connectOnce(JSON.parse(line));
    process.stdout.write(JSON.stringify(report) + '\n');
  }
  process.exit(0);
}

const role = process.argv[2];
if (role === 'server') runServer();
else if (role === 'client') runClient();
else {
  process.stderr.write('usage: node ws_peer.js server|client\n');
  process.exit(2);
}
