'use strict';
// A real browser session recorded as a HAR: playwright-core (npm) drives Debian's chromium to
// the test server's page, whose script talks to WS_URL (the proxy in front of that server) and
// checks every echo; Playwright's recordHar writes the HAR when the context closes.
//
//   node browser_session.js PAGE_URL WS_URL HAR_PATH [CHROMIUM]
// Prints the messages it sent as JSON on the last line; exit 0 when every echo came back.

const path = require('path');
const { chromium } = require(path.join(__dirname, '..', '..', 'peers', 'node_modules',
                                        'playwright-core'));

async function main() {
  const [pageUrl, wsUrl, harPath, executable] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: executable || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const context = await browser.newContext({ recordHar: { path: harPath, content: 'embed' } });
    const page = await context.newPage();
    await page.goto(pageUrl);
    const sent = await page.evaluate(async (url) => {
      const big = 'x'.repeat(70000) + 'é';
      const messages = [
        { text: 'héllo wörld ✓' },
        { binary: [0, 1, 2, 255] },
        { text: '' },
        { binary: [] },
        { text: '{"a":1,"b":[1,2]}' },
        { text: big },
      ];
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      const queue = [];
      let waiting = null;
      ws.onmessage = (e) => {
        if (waiting) { const w = waiting; waiting = null; w(e.data); } else { queue.push(e.data); }
      };
      const next = () => new Promise((resolve, reject) => {
        if (queue.length) { resolve(queue.shift()); return; }
        waiting = resolve;
        setTimeout(() => reject(new Error('no echo within 10 s')), 10000);
      });
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
      const greeting = await next();
      if (greeting !== '{"hello":"welcome"}') throw new Error('greeting: ' + greeting);
      for (const m of messages) {
        if ('text' in m) {
          ws.send(m.text);
          const echo = await next();
          if (echo !== m.text) throw new Error('text echo differs');
        } else {
          ws.send(new Uint8Array(m.binary));
          const echo = new Uint8Array(await next());
          if (echo.length !== m.binary.length || echo.some((b, i) => b !== m.binary[i])) {
            throw new Error('binary echo differs');
          }
        }
      }
      await new Promise((resolve) => { ws.onclose = resolve; ws.close(1000, 'done'); });
      return messages.length;
    }, wsUrl);
    await context.close(); // writes the HAR
    console.log(JSON.stringify({ sent }));
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error('browser_session: ' + (e && e.stack || e)); process.exit(1); });
