'use strict';
// One side of a WebSocket conversation on npm ws, as run_case.py plans it, over TLS or not:
//
//   node ws_peer.js server PLAN REPORT TLS_JSON [DEFLATE_JSON]       prints "listening PORT"
//   node ws_peer.js client PLAN REPORT PORT TLS_JSON [DEFLATE_JSON]
//
// TLS_JSON: null for plain ws://; for the server {"cert": FILE, "key": FILE} (an https server),
// for the client {"ca": FILE} (a wss:// URL, the certificate verified against that CA).
//
// The peer sends its side's messages (plan.c2s for the client, plan.s2c for the server), keeps
// everything it receives, prints "received all" once it has its share, closes when the plan
// makes it the closer, and writes REPORT (JSON) when the connection is gone: what it received,
// the close frame it got, and the bytes its TCP socket read and wrote. Payloads are base64.
// DEFLATE_JSON: ws's perMessageDeflate option (false, or an object).

const fs = require('fs');
const https = require('https');
const path = require('path');

const WebSocket = require(path.join(__dirname, '..', '..', 'peers', 'node_modules', 'ws'));

const [role, planFile, reportFile, ...rest] = process.argv.slice(2);
const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
const port = role === 'client' ? Number(rest.shift()) : 0;
const tls = JSON.parse(rest.shift());
const perMessageDeflate = rest.length > 0 ? JSON.parse(rest[0]) : false;

const outgoing = role === 'client' ? plan.c2s : plan.s2c;
const expected = role === 'client' ? plan.s2c.length : plan.c2s.length;
const closer = plan.closer === role;

const report = {
  role,
  received: [],
  pongs: [],
  close: null,
  bytes_read: null,
  bytes_written: null,
  local_port: null,
  host: null,
  offered_extensions: null,
  extensions: null,
  protocol: null,
};

function fail(why) {
  process.stderr.write(`ws_peer ${role}: ${why}\n`);
  process.exit(1);
}

const watchdog = setTimeout(() => fail('timed out'), plan.peer_timeout_ms);

function sendAll(ws) {
  for (const m of outgoing) {
    const data = Buffer.from(m.data, 'base64');
    const binary = m.type === 'binary';
    if (!m.fragments) {
      ws.send(data, { binary, fin: true });
      continue;
    }
    let at = 0;
    m.fragments.forEach((size, i) => {
      ws.send(data.subarray(at, at + size), { binary, fin: i === m.fragments.length - 1 });
      at += size;
    });
  }
}

function run(ws, socket) {
  let announced = false;
  const maybeClose = () => {
    const pongsDone = role !== 'client' || !plan.ping || report.pongs.length > 0;
    if (report.received.length < expected || !pongsDone) return;
    if (!announced) {
      announced = true;
      process.stdout.write('received all\n');
      if (closer) ws.close(plan.close_code, plan.close_reason);
    }
  };
  ws.on('message', (data, isBinary) => {
    report.received.push({ type: isBinary ? 'binary' : 'text', data: data.toString('base64') });
    maybeClose();
  });
  ws.on('pong', (data) => {
    report.pongs.push(data.toString('base64'));
    maybeClose();
  });
  ws.on('error', (e) => process.stderr.write(`ws_peer ${role}: ${e.message}\n`));
  ws.on('close', (code, reason) => {
    report.close = { code, reason: reason.toString('utf8') };
    // ws emits 'close' once its socket has closed, so the counts are final (a TLS socket
    // counts the decrypted bytes, as the proxy does).
    report.bytes_read = socket.bytesRead;
    report.bytes_written = socket.bytesWritten;
    finish();
  });
  report.protocol = ws.protocol || null;
  if (role === 'client' && plan.ping) ws.ping(Buffer.from(plan.ping, 'base64'));
  sendAll(ws);
  maybeClose();
}

let server = null;

function finish() {
  clearTimeout(watchdog);
  fs.writeFileSync(reportFile, JSON.stringify(report));
  if (server) server.close();
}

if (role === 'server') {
  let connections = 0;
  const options = {
    perMessageDeflate,
    handleProtocols: (offered) =>
      plan.subprotocol && offered.has(plan.subprotocol) ? plan.subprotocol : false,
  };
  let listener = null;
  if (tls) {
    listener = https.createServer({
      cert: fs.readFileSync(tls.cert),
      key: fs.readFileSync(tls.key),
    });
    server = new WebSocket.WebSocketServer({ ...options, server: listener });
    listener.listen(0, '127.0.0.1', () =>
      process.stdout.write(`listening ${listener.address().port}\n`));
    listener.on('error', (e) => fail(e.message));
    // ws's close() leaves a server it was handed open.
    server.on('close', () => listener.close());
  } else {
    server = new WebSocket.WebSocketServer({ ...options, host: '127.0.0.1', port: 0 });
    server.on('listening', () => process.stdout.write(`listening ${server.address().port}\n`));
  }
  server.on('error', (e) => fail(e.message));
  server.on('connection', (ws, request) => {
    connections += 1;
    if (connections > 1) fail('a second connection arrived');
    report.host = request.headers.host ?? null;
    report.offered_extensions = request.headers['sec-websocket-extensions'] ?? null;
    report.local_port = request.socket.localPort;
    run(ws, request.socket);
  });
} else if (role === 'client') {
  const url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}${plan.path}`;
  const clientOptions = { perMessageDeflate };
  if (tls) clientOptions.ca = fs.readFileSync(tls.ca);
  const ws = new WebSocket(url, plan.subprotocol ? [plan.subprotocol] : [], clientOptions);
  let socket = null;
  ws.on('upgrade', (response) => {
    socket = response.socket;
    report.local_port = socket.localPort;
    report.extensions = response.headers['sec-websocket-extensions'] ?? null;
  });
  ws.on('unexpected-response', (_, response) => fail(`unexpected response ${response.statusCode}`));
  // Before the opening handshake completes an error is a failure; after it, the close event
  // reports what happened (a reset shows as code 1006).
  const failToOpen = (e) => fail(e.message);
  ws.on('error', failToOpen);
  ws.on('open', () => {
    ws.off('error', failToOpen);
    run(ws, socket);
  });
} else {
  fail(`unknown role ${role}`);
}
