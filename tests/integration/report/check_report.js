'use strict';
// Opens a `wssniff report` page in headless Chromium (Debian chromium, npm playwright-core),
// works its controls and prints what it saw as one JSON line; report_cases.py compares that
// with the archive. Every request the page makes is intercepted and counted (and aborted), and
// console messages, page errors, dialogs and CSP violations are collected.
//
//   node check_report.js REPORT_HTML SCREENSHOT_PNG [CHROMIUM]

const path = require('path');
const { chromium } = require(path.join(__dirname, '..', '..', 'peers', 'node_modules',
                                        'playwright-core'));

async function main() {
  const [reportPath, screenshot, executable] = process.argv.slice(2);
  const url = 'file://' + path.resolve(reportPath);
  const browser = await chromium.launch({
    executablePath: executable || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const seen = { requests: [], console: [], pageErrors: [], dialogs: [], popups: 0 };
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    // Any request but the report itself is counted and refused.
    await context.route('**/*', (route) => {
      const u = route.request().url();
      if (u === url) return route.continue();
      seen.requests.push(u);
      return route.abort();
    });
    const page = await context.newPage();
    page.on('request', (r) => { if (r.url() !== url && !seen.requests.includes(r.url())) seen.requests.push(r.url()); });
    page.on('console', (m) => seen.console.push(m.type() + ': ' + m.text()));
    page.on('pageerror', (e) => seen.pageErrors.push(String(e)));
    page.on('dialog', (d) => { seen.dialogs.push(d.type() + ': ' + d.message()); d.dismiss(); });
    page.on('popup', () => { seen.popups += 1; });
    // Registered before the page's own script runs (init scripts are not subject to its CSP).
    await page.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber);
      });
    });
    const started = Date.now();
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="1"] section.conn .viewport .row', { timeout: 10000 });
    const loadMs = Date.now() - started;

    const out = { loadMs };
    out.connections = await page.$$eval('#connections tbody tr', (trs) => trs.map((tr) => ({
      conn: Number(tr.dataset.conn),
      cells: Array.from(tr.children).map((td) => td.textContent),
    })));
    // Each section's controls are worked in the page itself (one round trip per section):
    // the same events a user's input fires, then what the table shows.
    out.sections = await page.evaluate(async () => {
      const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
      const results = [];
      for (const s of document.querySelectorAll('section.conn')) {
        const r = { conn: Number(s.dataset.conn) };
        r.arrows = Array.from(s.querySelectorAll('svg.diagram g.arrow')).map((g) => g.getAttribute('class'));
        r.arrowLabels = Array.from(s.querySelectorAll('svg.diagram g.arrow > text')).map((t) => t.textContent);
        r.errorMarks = s.querySelectorAll('svg.diagram g.error').length;
        const box = s.querySelector('div.messages');
        const viewport = s.querySelector('.viewport');
        const rows = () => Array.from(viewport.querySelectorAll('.row:not([hidden])'));
        const visible = () => Number(box.dataset.visible);
        const sel = s.querySelector('select.dir-filter');
        const search = s.querySelector('input.search');
        const choose = (v) => { sel.value = v; sel.dispatchEvent(new Event('change')); };
        const type = (v) => { search.value = v; search.dispatchEvent(new Event('input')); };
        r.all = visible();
        r.renderedRows = rows().length;
        choose('sent');
        r.sent = visible();
        r.sentDirs = Array.from(new Set(rows().map((x) => x.querySelector('.dir').textContent)));
        choose('received');
        r.received = visible();
        r.receivedDirs = Array.from(new Set(rows().map((x) => x.querySelector('.dir').textContent)));
        choose('all');
        r.searches = {};
        for (const q of ['^héllo', 'onerror=', 'n=29\\d$']) {
          type(q);
          r.searches[q] = visible();
        }
        type('(');
        r.invalidRegexMarked = search.classList.contains('invalid');
        r.invalidRegexVisible = visible();
        type('');
        // The last row after scrolling to the bottom: only the rows in view exist.
        viewport.scrollTop = viewport.scrollHeight;
        await frame();
        await frame();
        r.scrolledRows = rows().length;
        r.lastIndex = Math.max(...rows().map((x) => Number(x.dataset.index)));
        viewport.scrollTop = 0;
        await frame();
        await frame();
        // Details: the JSON message pretty-printed, the binary one as hex, the XSS one as text.
        r.details = {};
        for (const [name, q] of [['json', '^\\{"a"'], ['binary', '^000102ff$'], ['xss', 'onerror=']]) {
          type(q);
          const row = rows()[0];
          if (row) {
            row.click();
            r.details[name] = s.querySelector('pre.detail').textContent;
            r.details[name + 'Row'] = row.querySelector('.preview').textContent;
          }
        }
        type('');
        results.push(r);
      }
      return results;
    });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: screenshot, fullPage: false });
    out.images = await page.$$eval('img', (a) => a.length);
    out.scripts = await page.$$eval('script', (a) => a.length);
    out.pwned = await page.evaluate(() => window.__pwned === undefined ? null : window.__pwned);
    out.csp = await page.evaluate(() => window.__csp);
    out.cspMeta = await page.$eval('meta[http-equiv="Content-Security-Policy"]', (m) => m.content);
    await page.waitForTimeout(200); // let late errors, dialogs and requests arrive
    Object.assign(out, seen);
    console.log(JSON.stringify(out));
    await context.close();
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error('check_report: ' + (e && e.stack || e)); process.exit(1); });
