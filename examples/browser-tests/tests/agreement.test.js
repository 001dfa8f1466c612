// ssekit-client against the browser: for the same byte streams (the WPT
// eventsource/format-* cases and more, each sent whole and one byte per TCP
// segment), the events ssekit-client yields must be exactly those headless
// Chromium's EventSource dispatches: type, data and lastEventId, in order.
// Then, for streams after which a client reconnects, the Last-Event-ID both
// send must be the same. The `agreement` example binary serves the bytes and
// reports its client's events and requests (see examples/src/bin/agreement.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startServer, kill, launchBrowser } from './harness.js';

test('ssekit-client dispatches what Chromium EventSource dispatches, byte stream for byte stream', async () => {
  const port = await freePort();
  const server = await startServer('agreement', 'axum', port);
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    const { types, cases, resume_cases } = await (await fetch(`http://127.0.0.1:${port}/cases.json`)).json();
    assert.ok(cases.length > 20, `only ${cases.length} cases`);
    let checked = 0;
    for (const [index, expected] of cases.entries()) {
      const dispatched = await page.evaluate(
        ({ index, types }) =>
          new Promise((resolve) => {
            const events = [];
            const source = new EventSource(`/case/${index}`);
            const record = (event) => events.push([event.type, event.data, event.lastEventId]);
            for (const type of types) source.addEventListener(type, record);
            // The body ends, the connection closes: EventSource reports an
            // error and would reconnect; every event has been dispatched.
            source.onerror = () => {
              source.close();
              resolve(events);
            };
          }),
        { index, types },
      );
      assert.deepEqual(expected.events, dispatched, `case ${expected.name}: ssekit-client (left) vs Chromium (right)`);
      checked += 1;
    }
    assert.equal(checked, cases.length);

    // Reconnecting: after each body, the browser reconnects (the server sent
    // `retry: 20`) and gets 204, which closes the EventSource for good. The
    // server recorded the Last-Event-ID of each request, ours and Chromium's.
    for (const [index] of resume_cases.entries()) {
      await page.evaluate(
        (index) =>
          new Promise((resolve) => {
            const source = new EventSource(`/resume/${index}/browser`);
            source.onerror = () => {
              if (source.readyState === EventSource.CLOSED) resolve();
            };
          }),
        index,
      );
    }
    const resumes = await (await fetch(`http://127.0.0.1:${port}/resume.json`)).json();
    const ids = (who, index) => resumes.find((r) => r.who === who && r.case === index)?.last_event_ids;
    for (const [index, name] of resume_cases.entries()) {
      const browserIds = ids('browser', index);
      assert.equal(browserIds?.length, 2, `resume case ${name}: Chromium made ${browserIds?.length} requests`);
      assert.deepEqual(ids('client', index), browserIds, `resume case ${name}: Last-Event-ID of ssekit-client (left) vs Chromium (right)`);
    }
  } finally {
    await browser.close();
    await kill(server);
  }
});
