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
    out.sections = [];
    const sections = await page.$$('section.conn');
    for (const s of sections) {
      const r = {};
      r.conn = Number(await s.getAttribute('data-conn'));
      r.arrows = await s.$$eval('svg.diagram g.arrow', (a) => a.map((g) => g.getAttribute('class')));
      r.arrowLabels = await s.$$eval('svg.diagram g.arrow > text', (a) => a.map((t) => t.textContent));
      r.errorMarks = await s.$$eval('svg.diagram g.error', (a) => a.length);
      const box = await s.$('div.messages');
      const visible = async () => Number(await box.getAttribute('data-visible'));
      r.all = await visible();
      r.renderedRows = await s.$$eval('.viewport .row:not([hidden])', (a) => a.length);
      const sel = await s.$('select.dir-filter');
      const search = await s.$('input.search');
      await sel.selectOption('sent');
      r.sent = await visible();
      r.sentDirs = await s.$$eval('.viewport .row:not([hidden]) .dir', (a) => Array.from(new Set(a.map((x) => x.textContent))));
      await sel.selectOption('received');
      r.received = await visible();
      r.receivedDirs = await s.$$eval('.viewport .row:not([hidden]) .dir', (a) => Array.from(new Set(a.map((x) => x.textContent))));
      await sel.selectOption('all');
      r.searches = {};
      for (const q of ['^héllo', 'onerror=', 'n=29\\d$']) {
        await search.fill(q);
        r.searches[q] = await visible();
      }
      await search.fill('(');
      r.invalidRegexMarked = await search.evaluate((e) => e.classList.contains('invalid'));
      r.invalidRegexVisible = await visible();
      await search.fill('');
      // The last row after scrolling to the bottom: only the rows in view exist.
      await s.$eval('.viewport', (v) => { v.scrollTop = v.scrollHeight; v.dispatchEvent(new Event('scroll')); });
      await page.waitForTimeout(100);
      r.scrolledRows = await s.$$eval('.viewport .row:not([hidden])', (a) => a.length);
      r.lastIndex = await s.$$eval('.viewport .row:not([hidden])', (a) => Math.max(...a.map((x) => Number(x.dataset.index))));
      await s.$eval('.viewport', (v) => { v.scrollTop = 0; v.dispatchEvent(new Event('scroll')); });
      await page.waitForTimeout(100);
      // Details: the JSON message pretty-printed, the binary one as hex, the XSS one as text.
      r.details = {};
      for (const [name, q] of [['json', '^\\{"a"'], ['binary', '^000102ff$'], ['xss', 'onerror=']]) {
        await search.fill(q);
        const row = await s.$('.viewport .row:not([hidden])');
        if (row) {
          await row.click();
          r.details[name] = await s.$eval('pre.detail', (p) => p.textContent);
          r.details[name + 'Row'] = await row.$eval('span:last-child', (x) => x.textContent);
        }
      }
      await search.fill('');
      out.sections.push(r);
    }
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
