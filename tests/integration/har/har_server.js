'use strict';
// The server of the HAR tests, on npm ws: one port serves the browser's page over HTTP
// (GET /) and WebSocket connections (any path), which are greeted with a JSON message and get
// every message echoed back with its opcode. Prints "listening PORT".
//
//   node har_server.js        HAR_DEFLATE=1: permessage-deflate offered to clients

const http = require('http');
const path = require('path');
const WebSocket = require(path.join(__dirname, '..', '..', 'peers', 'node_modules', 'ws'));

const page = `<!doctype html><meta charset="utf-8"><title>wssniff HAR test</title>
<p>The WebSocket of this page is opened by the test through page.evaluate().</p>`;

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(page);
});
const wss = new WebSocket.Server({ server, perMessageDeflate: process.env.HAR_DEFLATE === '1' });
wss.on('connection', (ws) => {
  ws.send(JSON.stringify({ hello: 'welcome' }));
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
