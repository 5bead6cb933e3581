'use strict';
// The server of the diff tests on npm ws: prints "listening PORT", serves one connection, exits.
//
//   node scenario_server.js        (DIFF_CHANGE=none|drop|change|add|reorder|stamp, or several
//                                   with commas)
//
// The scenario (the same in scenario_server.py): the client sends {"op":"subscribe"}; the
// server pushes {"n":1,"price":101.5}, {"n":2,"price":99.25}, {"n":3,"price":100} and then
// {"op":"done"}; the client sends {"op":"bye"}, the server answers {"op":"bye"} and the client
// closes (1000, "finished"). DIFF_CHANGE makes the server drop push 2, change its price to 102,
// add a push {"n":"extra"} after it, send push 3 before push 2, or add a time and a uuid to
// every push.

const crypto = require('crypto');
const path = require('path');

const WebSocket = require(path.join(__dirname, '..', '..', 'peers', 'node_modules', 'ws'));

const changes = (process.env.DIFF_CHANGE || 'none').split(',');

function pushes() {
  let list = [{ n: 1, price: 101.5 }, { n: 2, price: 99.25 }, { n: 3, price: 100 }];
  if (changes.includes('drop')) list = [list[0], list[2]];
  if (changes.includes('change')) list[1].price = 102;
  if (changes.includes('add')) list.splice(2, 0, { n: 'extra' });
  if (changes.includes('reorder')) list = [list[0], list[2], list[1]];
  if (changes.includes('stamp')) {
    list = list.map((p) => ({ ...p, ts: new Date().toISOString(), id: crypto.randomUUID() }));
  }
  return list;
}

const watchdog = setTimeout(() => {
  process.stderr.write('scenario_server: timed out\n');
  process.exit(1);
}, 10000);

const server = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0 });
server.on('listening', () => process.stdout.write(`listening ${server.address().port}\n`));
server.on('connection', (ws) => {
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString('utf8'));
    if (m.op === 'subscribe') {
      for (const p of pushes()) ws.send(JSON.stringify(p));
      ws.send(JSON.stringify({ op: 'done' }));
    } else if (m.op === 'bye') {
      ws.send(JSON.stringify({ op: 'bye' }));
    }
  });
  ws.on('close', () => {
    clearTimeout(watchdog);
    server.close();
  });
});
