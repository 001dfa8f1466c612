// Three topics on one EventSource in a real browser: the server killed and
// started again, every topic resumes exactly after the page's one Last-Event-ID.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { frameworks, freePort, startServer, kill, launchBrowser } from './harness.js';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const topics = ['rooms/a', 'rooms/b', 'feeds/c'];

async function send(url, topic, text) {
  const response = await fetch(`${url}rooms/send`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic, text }),
  });
  assert.equal(response.status, 200, await response.text());
}

async function lists(page) {
  return page.evaluate((names) => Object.fromEntries(names.map((name) => [
    name, [...document.getElementById(name).querySelectorAll('li.message')].map((li) => li.textContent),
  ])), topics);
}

async function waitForCounts(page, counts) {
  await page.waitForFunction(
    ([names, wanted]) => names.every((name, i) =>
      document.getElementById(name).querySelectorAll('li.message').length >= wanted[i]),
    [topics, counts],
    { timeout: 20000 },
  );
}

for (const framework of frameworks) {
  test(`rooms on ${framework}: three topics on one EventSource resume exactly after a server kill`, async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    let server = await startServer('rooms', framework, port);
    const page = await browser.newPage();
    try {
      await page.goto(url);
      await page.waitForSelector('#status.open', { timeout: 15000 });
      await send(url, 'rooms/a', 'a1');
      await send(url, 'rooms/b', 'b1');
      await waitForCounts(page, [1, 1, 0]);

      await kill(server);
      await page.waitForSelector('#status.reconnecting', { timeout: 15000 });
      server = await startServer('rooms', framework, port);
      // Published right after the restart, possibly before the page is back
      // (then replayed after its position on each topic), feeds/c's first.
      await send(url, 'rooms/a', 'a2');
      await send(url, 'feeds/c', 'c1');
      await send(url, 'rooms/b', 'b2');
      await send(url, 'rooms/a', 'a3');
      await page.waitForSelector('#status.open', { timeout: 15000 });
      await waitForCounts(page, [3, 2, 1]);
      // Live on all three after the resume.
      for (const topic of topics) await send(url, topic, `${topic} live`);
      await waitForCounts(page, [4, 3, 2]);
      assert.deepEqual(await lists(page), {
        'rooms/a': ['a1', 'a2', 'a3', 'rooms/a live'],
        'rooms/b': ['b1', 'b2', 'rooms/b live'],
        'feeds/c': ['c1', 'feeds/c live'],
      });
      assert.equal(await page.$$eval('#notices li', (n) => n.length), 0, 'no gap notice');
      assert.match(await page.textContent('#last-id'), /^t1:[0-9a-f]{8}:\d+,\d+,\d+$/);
    } finally {
      await page.close();
      await kill(server);
    }
  });
}
