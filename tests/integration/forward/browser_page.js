'use strict';
// Headless Chromium (Debian's, driven by npm playwright-core) with the forward proxy as its
// HTTP proxy, loopback included: loads PAGE_URL through it and runs the page's talk(WS_URL),
// which echoes messages with the ws server through the proxy (Chromium tunnels ws:// through
// CONNECT). Exit 0 when every echo came back.
//
//   node browser_page.js PROXY_URL PAGE_URL WS_URL [CHROMIUM]
//
// With WSSNIFF_BROWSER_HOME set, Chromium runs with that HOME (its NSS database, in
// HOME/.pki/nssdb, is where a test puts a CA for it to trust).

const path = require('path');
const { chromium } = require(path.join(__dirname, '..', '..', 'peers', 'node_modules',
                                        'playwright-core'));

async function main() {
  const [proxy, pageUrl, wsUrl, executable] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: executable || '/usr/bin/chromium',
    env: process.env.WSSNIFF_BROWSER_HOME ? { ...process.env, HOME: process.env.WSSNIFF_BROWSER_HOME } : process.env,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
           '--disable-component-update', '--proxy-server=' + proxy, '--proxy-bypass-list=<-loopback>'],
  });
  try {
    const page = await browser.newPage();
    const response = await page.goto(pageUrl);
    if (!response || response.status() !== 200) throw new Error('page: ' + (response && response.status()));
    const outcome = await page.evaluate((url) => window.talk(url), wsUrl);
    console.log(outcome);
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error('browser_page: ' + (e && e.stack || e)); process.exit(1); });
