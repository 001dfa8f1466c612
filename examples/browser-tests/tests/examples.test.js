// The examples in a real browser (EventSource in headless Chromium), on every framework.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { frameworks, freePort, startServer, kill, launchBrowser } from './harness.js';

const artifacts = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../artifacts');
let browser;

before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function messages(page) {
  return page.$$eval('#messages li.message', (items) => items.map((li) => li.textContent));
}

async function waitForMessages(page, expected) {
  await page.waitForFunction(
    (n) => document.querySelectorAll('#messages li.message').length >= n,
    expected.length,
    { timeout: 15000 },
  );
  assert.deepEqual(await messages(page), expected);
}

// Rocket and poem notice a closed page only at a keep-alive write (every
// 5 s in the chat), so a leave can take 10 s there.
async function waitForOnline(page, names) {
  await page.waitForFunction(
    (expected) => document.getElementById('online').textContent === expected,
    names,
    { timeout: 30000 },
  );
}

async function send(page, text) {
  await page.fill('#text', text);
  await page.click('#send button');
}

for (const framework of frameworks) {
  test(`chat on ${framework}: broadcast to every page, resume after a server restart`, async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    let server = await startServer('chat', framework, port);
    const context = await browser.newContext();
    try {
      const [alice, bob, carol] = await Promise.all([1, 2, 3].map(() => context.newPage()));
      const pages = { alice, bob, carol };
      for (const [name, page] of Object.entries(pages)) {
        await page.goto(`${url}?user=${name}`);
        await page.waitForSelector('#status.open', { timeout: 15000 });
      }
      for (const page of [alice, bob, carol]) await waitForOnline(page, 'alice, bob, carol');
      await send(carol, 'hello from carol');
      await waitForMessages(alice, ['carolhello from carol']);
      await waitForMessages(bob, ['carolhello from carol']);
      const idBefore = await alice.textContent('#last-id');

      // Kill the server for real; the pages notice and keep reconnecting.
      await kill(server);
      await alice.waitForSelector('#status.reconnecting', { timeout: 15000 });
      server = await startServer('chat', framework, port);
      // Published right after the restart, possibly before the pages are back:
      // they must get it exactly once, live or replayed after their last id.
      const response = await fetch(`${url}chat/send`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'dave', text: 'after the restart' }),
      });
      assert.equal(response.status, 200);
      for (const page of [alice, bob]) {
        await page.waitForSelector('#status.open', { timeout: 15000 });
        await waitForMessages(page, ['carolhello from carol', 'daveafter the restart']);
        assert.equal(await page.$$eval('#messages li.notice', (n) => n.length), 0, 'no gap notice');
      }
      assert.notEqual(await alice.textContent('#last-id'), idBefore);
      // Back online after the restart, and carol leaves when her page closes.
      await waitForOnline(alice, 'alice, bob, carol');
      await carol.close();
      await waitForOnline(alice, 'alice, bob');
      await waitForOnline(bob, 'alice, bob');
    } finally {
      await context.close();
      await kill(server);
    }
  });

  test(`progress on ${framework}: the bar reaches 100% and the job completes`, async () => {
    const port = await freePort();
    const server = await startServer('progress', framework, port);
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${port}/?steps=6`);
      await page.click('#start');
      await page.waitForFunction(() => document.getElementById('state').textContent.startsWith('complete'), null, { timeout: 20000 });
      assert.equal(await page.$eval('#bar', (bar) => bar.value), 100);
      assert.match(await page.textContent('#state'), /^complete: job [0-9a-f]{32} done$/);
    } finally {
      await page.close();
      await kill(server);
    }
  });
}

test('dashboard draws live metrics (screenshot for the README)', async () => {
  const port = await freePort();
  const server = await startServer('dashboard', frameworks[0], port);
  const page = await browser.newPage({ viewport: { width: 900, height: 640 } });
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => parseInt(document.getElementById("samples").textContent, 10) >= 10, null, { timeout: 20000 });
    assert.match(await page.textContent('#cpu'), /^\d+\.\d%$/);
    assert.equal(await page.textContent('#viewers'), '1');
    // ssekit's own metrics, read back from /metrics: this page's stream is the one open.
    assert.equal(await page.textContent('#open'), '1');
    assert.match(await page.textContent('#fps'), /^\d+\.\d$/);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true });
  } finally {
    await page.close();
    await kill(server);
  }
});

test('countdown resumes after its last event id when the server restarts, and stops at the end', async () => {
  const port = await freePort();
  let server = await startServer('countdown', frameworks[0], port);
  const page = await browser.newPage();
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => window.seen.includes(8), null, { timeout: 15000 });
    await kill(server);
    server = await startServer('countdown', frameworks[0], port);
    await page.waitForFunction(() => document.getElementById('log').textContent === 'done', null, { timeout: 30000 });
    const seen = await page.evaluate(() => window.seen);
    assert.deepEqual(seen, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1], 'no number lost or repeated across the restart');
    assert.match(await page.textContent('#count'), /liftoff/);
  } finally {
    await page.close();
    await kill(server);
  }
});
