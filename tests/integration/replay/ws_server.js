'use strict';
// The live server of the replay tests, on npm ws: greets each connection with a JSON message,
// echoes every message back (same opcode), and answers the text "slow" with "late" 700 ms
// afterwards (a push the replayer's --sync must wait for). Prints "listening PORT".
//
//   node ws_server.js            REPLAY_DEFLATE=1: permessage-deflate offered to clients

const path = require('path');
const WebSocket = require(path.join(__dirname, '..', '..', 'peers', 'node_modules', 'ws'));

const server = new WebSocket.Server({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: process.env.REPLAY_DEFLATE === '1',
});
server.on('listening', () => console.log('listening ' + server.address().port));
server.on('connection', (ws) => {
  ws.send(JSON.stringify({ hello: 'welcome' }));
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === 'slow') {
      setTimeout(() => ws.send('late'), 700);
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
});
