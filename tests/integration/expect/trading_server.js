'use strict';
// The trading server of the expect tests on npm ws, with permessage-deflate (the scenario of
// trading_server.py, see there): prints "listening PORT", serves one connection, exits.

const path = require('path');

const WebSocket = require(path.join(__dirname, '..', '..', 'peers', 'node_modules', 'ws'));

const change = process.env.TRADE_CHANGE || 'none';

const watchdog = setTimeout(() => {
  process.stderr.write('trading_server: timed out\n');
  process.exit(1);
}, 15000);

const server = new WebSocket.WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: { threshold: 0 },
});
server.on('listening', () => process.stdout.write(`listening ${server.address().port}\n`));
server.on('connection', (ws) => {
  ws.once('message', (data) => {
    const request = JSON.parse(data.toString());
    ws.ping();
    ws.send(JSON.stringify({ op: 'ack', id: request.id + (change === 'bad_id' ? 2 : 0) }));
    for (const price of [101.5, 101.75]) ws.send(JSON.stringify({ type: 'trade', price }));
    const tail = change === 'swap' ? ['motd', 'stats'] : ['stats', 'motd'];
    for (const text of tail) ws.send(text);
  });
  ws.on('close', () => {
    clearTimeout(watchdog);
    server.close();
  });
});
