'use strict';
// Opens a report in headless Chromium and measures it (see bench/report_bench):
//   node bench/report_bench.js REPORT_HTML [CHROMIUM]
// Prints one JSON line: firstRenderMs (navigation start to the first message row drawn),
// frame intervals while scrolling one screen per animation frame, jumpMs (scrollTop to the
// end until that row is drawn) and maxRows (rows in the DOM).

const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'tests', 'peers', 'node_modules',
                                        'playwright-core'));

async function main() {
  const [report, executable] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: executable || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.addInitScript(() => {
      new MutationObserver((records, observer) => {
        if (document.querySelector('.viewport .row')) {
          window.__firstRow = performance.now();
          observer.disconnect();
        }
      }).observe(document, { childList: true, subtree: true });
    });
    await page.goto('file://' + path.resolve(report), { waitUntil: 'load', timeout: 120000 });
    await page.waitForSelector('.viewport .row', { timeout: 120000 });
    // The first paint with rows: one more frame.
    const firstRenderMs = await page.evaluate(() => new Promise((resolve) => {
      requestAnimationFrame(() => resolve(window.__firstRow));
    }));
    const result = await page.evaluate(() => new Promise((resolve) => {
      const v = document.querySelector('.viewport');
      v.scrollIntoView();
      const intervals = [];
      let maxRows = 0;
      let last = performance.now();
      let n = 0;
      function step(now) {
        intervals.push(now - last);
        last = now;
        maxRows = Math.max(maxRows, v.querySelectorAll('.row:not([hidden])').length);
        if (n++ < 300) {
          v.scrollTop += v.clientHeight;
          requestAnimationFrame(step);
          return;
        }
        const t0 = performance.now();
        v.scrollTop = v.scrollHeight;
        function waitEnd() {
          const rows = Array.from(v.querySelectorAll('.row:not([hidden])'));
          const max = Math.max(...rows.map((r) => Number(r.dataset.index)));
          const total = Number(v.parentNode.dataset.visible);
          if (max === total - 1) {
            intervals.shift();
            intervals.sort((a, b) => a - b);
            resolve({ jumpMs: performance.now() - t0, maxRows,
                      frameMedianMs: intervals[intervals.length >> 1],
                      frameP95Ms: intervals[Math.floor(intervals.length * 0.95)],
                      frameMaxMs: intervals[intervals.length - 1] });
          } else {
            requestAnimationFrame(waitEnd);
          }
        }
        requestAnimationFrame(waitEnd);
      }
      requestAnimationFrame(step);
    }));
    console.log(JSON.stringify({ firstRenderMs, ...result }));
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error('report_bench: ' + (e && e.stack || e)); process.exit(1); });
