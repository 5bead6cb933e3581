'use strict';
// npm ws peer of the pcap tests. `node ws_peer.js server` echoes every message (prints
// "listening PORT"); `node ws_peer.js client URL` plays the conversation of pcap_cases.py and
// exits 0 once every echo came back. PCAP_DEFLATE=1: permessage-deflate offered/accepted.

const path = require('path');
const WebSocket = require(path.join(__dirname, '..', '..', 'peers', 'node_modules', 'ws'));

const deflate = process.env.PCAP_DEFLATE === '1';

function conversation() {
  const big = Buffer.alloc(300000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 9)) & 0xff;
  return [
    { data: 'hello', binary: false },
    { data: 'héllo wörld — こんにちは 🌍', binary: false },
    { data: Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]), binary: true },
    { data: 'x'.repeat(70000), binary: false },
    { data: big, binary: true },
    { data: 'bye', binary: false },
  ];
}

if (process.argv[2] === 'server') {
  const server = new WebSocket.Server({ host: '127.0.0.1', port: 0, perMessageDeflate: deflate });
  server.on('listening', () => console.log('listening ' + server.address().port));
  server.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
} else {
  const ws = new WebSocket(process.argv[3], { perMessageDeflate: deflate });
  const messages = conversation();
  let next = 0;
  ws.on('open', () => {
    ws.ping('are you there');
    ws.send(messages[0].data, { binary: messages[0].binary });
  });
  ws.on('message', () => {
    next += 1;
    if (next < messages.length) {
      ws.send(messages[next].data, { binary: messages[next].binary });
    } else {
      ws.close(1000, 'done');
    }
  });
  ws.on('close', () => process.exit(next === messages.length ? 0 : 1));
  ws.on('error', (e) => { console.error(String(e)); process.exit(1); });
}
