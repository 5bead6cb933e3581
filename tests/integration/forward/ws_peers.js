'use strict';
// The npm ws peers of the forward-proxy cases.
//
//   node ws_peers.js server        an echo server on 127.0.0.1 (port 0); prints "listening PORT";
//                                  also serves GET /page.html (the browser case's page)
//   node ws_peers.js server-tls CERT KEY
//                                  the same echo server over TLS (wss://), CERT and KEY in PEM;
//                                  prints "request TARGET" for every upgrade request it gets
//   node ws_peers.js client URL [PROXY]
//                                  sends MESSAGES to URL (through the HTTP proxy PROXY, as
//                                  https-proxy-agent does it: CONNECT HOST:PORT), checks each
//                                  echo, closes with 1000; exit 0 when all came back

const path = require('path');
const fs = require('fs');
const http = require('http');
const https = require('https');
const modules = path.join(__dirname, '..', '..', 'peers', 'node_modules');
const WebSocket = require(path.join(modules, 'ws'));

const MESSAGES = [
  { text: 'héllo through the proxy ✓' },
  { binary: [0, 1, 2, 253, 254, 255] },
  { text: '' },
  { text: 'x'.repeat(70000) },
  { text: '{"a":1,"b":[true,null]}' },
];

const PAGE = `<!doctype html><meta charset="utf-8"><title>forward</title>
<script>
window.talk = async (url) => {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const queue = []; let waiting = null;
  ws.onmessage = (e) => { if (waiting) { const w = waiting; waiting = null; w(e.data); } else queue.push(e.data); };
  const next = () => new Promise((resolve, reject) => {
    if (queue.length) { resolve(queue.shift()); return; }
    waiting = resolve; setTimeout(() => reject(new Error('no echo within 10 s')), 10000);
  });
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('ws error')); });
  for (const m of ${JSON.stringify(MESSAGES)}) {
    if ('text' in m) {
      ws.send(m.text);
      if ((await next()) !== m.text) throw new Error('text echo differs');
    } else {
      ws.send(new Uint8Array(m.binary));
      const echo = new Uint8Array(await next());
      if (echo.length !== m.binary.length || echo.some((b, i) => b !== m.binary[i])) throw new Error('binary echo differs');
    }
  }
  await new Promise((resolve) => { ws.onclose = resolve; ws.close(1000, 'done'); });
  return 'ok';
};
</script>`;

function server(tls) {
  const page = (req, res) => {
    if (req.url === '/page.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    } else {
      res.writeHead(404);
      res.end();
    }
  };
  const web = tls ? https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) }, page)
                  : http.createServer(page);
  if (tls) {
    web.on('upgrade', (req) => console.log('request ' + req.url));
  }
  const wss = new WebSocket.Server({ server: web, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  web.listen(0, '127.0.0.1', () => console.log('listening ' + web.address().port));
}

async function client(url, proxy) {
  const options = { perMessageDeflate: false };
  if (proxy) {
    const { HttpsProxyAgent } = require(path.join(modules, 'https-proxy-agent'));
    options.agent = new HttpsProxyAgent(proxy);
  }
  const ws = new WebSocket(url, options);
  const queue = [];
  let waiting = null;
  ws.on('message', (data, isBinary) => {
    const m = { data, isBinary };
    if (waiting) { const w = waiting; waiting = null; w(m); } else { queue.push(m); }
  });
  const next = () => new Promise((resolve, reject) => {
    if (queue.length) { resolve(queue.shift()); return; }
    waiting = resolve;
    setTimeout(() => reject(new Error('no echo within 10 s')), 10000);
  });
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  for (const m of MESSAGES) {
    const sent = 'text' in m ? Buffer.from(m.text) : Buffer.from(m.binary);
    ws.send(sent, { binary: !('text' in m) });
    const echo = await next();
    if (!echo.data.equals(sent) || echo.isBinary !== !('text' in m)) {
      throw new Error('echo differs');
    }
  }
  await new Promise((resolve) => { ws.on('close', resolve); ws.close(1000, 'done'); });
}

if (process.argv[2] === 'server') {
  server(null);
} else if (process.argv[2] === 'server-tls') {
  server({ cert: process.argv[3], key: process.argv[4] });
} else {
  client(process.argv[3], process.argv[4]).then(
    () => process.exit(0),
    (e) => { console.error('ws client: ' + (e && e.stack || e)); process.exit(1); });
}
