// Firefox smoke: the page in Debian's Firefox ESR (headless, driven by puppeteer-core over WebDriver BiDi).
// Loads the default model, chats (a non-empty reply that streams in), answers from an added text document
// with a citation that reveals the evidence, and makes no request anywhere but the local test server: every
// request the browser reports (page and worker) goes to the server's origin, none at all is made while
// answering, and Firefox's proxy settings point at a local trap that records anything Firefox tries to send
// to another host. Logs the Firefox version, which wasm build it got (relaxed SIMD or not) and the threads.
//
// Skipped, saying so, when the Firefox binary is absent (scripts/setup.sh installs Debian's firefox-esr).

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ANSWER_TIMEOUT, LOAD_TIMEOUT, citationInPage, lastAnswer, screenshot, startEgressTrap, startServer, streamPartialsInPage, watchStreamInPage } from './helpers.mjs';

const FIREFOX = process.env.FIREFOX_BIN || '/usr/bin/firefox-esr';
const skip = existsSync(FIREFOX)
  ? false
  : `Firefox not found at ${FIREFOX}: install Debian's firefox-esr (scripts/setup.sh does) or set FIREFOX_BIN`;

const FACT_DOC = {
  name: 'larkspur-office.txt',
  text: 'Larkspur office notes\n\nThe wifi password of the Larkspur office is heliotrope-42. The office opens at 8 am on weekdays.\n',
};
const DOC_QUESTION = 'What is the wifi password of the Larkspur office?';
const CHAT_QUESTION = 'What is the capital of France?';

/** The Firefox preferences that send every non-local request to the trap (and turn off DNS-over-HTTPS,
 * HTTP/3 and the background checks that would otherwise bypass or pre-empt a proxy). */
const proxyPrefs = (port) => ({
  'network.proxy.type': 1,
  'network.proxy.http': '127.0.0.1',
  'network.proxy.http_port': port,
  'network.proxy.ssl': '127.0.0.1',
  'network.proxy.ssl_port': port,
  'network.proxy.share_proxy_settings': false,
  'network.proxy.no_proxies_on': '',
  'network.proxy.allow_hijacking_localhost': false, // 127.0.0.1 (the test server) is reached directly
  'network.trr.mode': 5,
  'network.http.http3.enable': false,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  // Remote Settings (Firefox's own lists, fetched at start-up from Mozilla's server): Mozilla's test
  // harnesses' dummy server, honoured with MOZ_DISABLE_NONLOCAL_CONNECTIONS (see the launch).
  'services.settings.server': 'data:,#remote-settings-dummy/v1',
});

const READY = () => document.querySelector('[role="status"]')?.textContent === 'Ready';

async function waitReady(page, timeout = LOAD_TIMEOUT) {
  await page.waitForFunction(READY, { timeout, polling: 100 });
}

/** The form control a <label> with exactly `text` names (what Playwright's getByLabel finds). */
async function byLabel(page, text) {
  const handle = await page.evaluateHandle(
    (t) => [...document.querySelectorAll('label')].find((l) => l.textContent.trim() === t)?.control ?? null,
    text,
  );
  const el = handle.asElement();
  assert.ok(el, `a control labelled "${text}"`);
  return el;
}

const button = (page, name) => page.locator(`::-p-aria([name="${name}"][role="button"])`);

/**
 * Types `question`, clicks Ask and waits for the answer to finish, recording the assistant text while it is
 * still pending (to see it stream). Returns lastAnswer() plus `partials`: the distinct lengths of the pending
 * answer's text, in order.
 */
async function askAndWait(page, question, timeout = ANSWER_TIMEOUT) {
  const before = await page.evaluate(watchStreamInPage);
  const box = await byLabel(page, 'Question');
  await box.evaluate((e) => (e.value = ''));
  await box.type(question);
  await button(page, 'Ask').click();
  await page.waitForFunction((n) => document.querySelectorAll('[data-role="assistant"]:not(.pending)').length > n, { timeout, polling: 100 }, before);
  await waitReady(page, timeout);
  const partials = await page.evaluate(streamPartialsInPage);
  return { ...(await lastAnswer(page)), partials };
}

describe('Firefox ESR smoke', () => {
  let puppeteer, browser, server, trap, page, tmp;
  const requests = []; // every request the browser reported (page and its workers)
  const errors = [];

  before(async () => {
    if (skip) return; // each test says so (counted as skipped in the summary)
    try {
      puppeteer = (await import('puppeteer-core')).default;
    } catch (e) {
      throw new Error(`puppeteer-core is not installed (cd tests && npm install; scripts/setup.sh does): ${e.message}`);
    }
    tmp = mkdtempSync(join(tmpdir(), 'hearth-firefox-'));
    server = await startServer();
    trap = await startEgressTrap();
    browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      extraPrefsFirefox: proxyPrefs(trap.port),
      protocolTimeout: LOAD_TIMEOUT,
      // Mozilla's test setting: Firefox refuses connections to non-local addresses (the proxy trap above is
      // local, so it still records what is tried) and honours the dummy Remote Settings server.
      env: { ...process.env, MOZ_DISABLE_NONLOCAL_CONNECTIONS: '1' },
    });
    console.log(`# browser: ${await browser.version()}`);
    page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 850 });
    page.on('request', (r) => {
      let body = '';
      try {
        body = r.postData() ?? '';
      } catch {}
      requests.push({ url: r.url(), method: r.method(), body });
    });
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
  }, { timeout: 240_000 });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await trap?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, { timeout: 60_000 });

  test('loads the default model and streams a chat reply', { timeout: 420_000, skip }, async () => {
    const t0 = Date.now();
    await page.goto(server.url);
    await waitReady(page);
    console.log(`# model ready after ${Date.now() - t0} ms`);
    const info = await page.evaluate(() => ({
      isolated: crossOriginIsolated,
      cores: navigator.hardwareConcurrency,
      model: document.querySelector('#model-info').textContent,
      embedder: document.querySelector('#embedder-info').textContent,
      alert: document.querySelector('[role="alert"]')?.textContent ?? '',
    }));
    const wasm = requests.map((r) => r.url).filter((u) => u.endsWith('hearth_bg.wasm'));
    const build = info.model.includes('relaxed SIMD') ? 'relaxed SIMD' : info.model.includes('· SIMD') ? 'SIMD' : 'no SIMD';
    const threads = info.model.match(/(\d+) threads?/)?.[1];
    console.log(`# model: ${info.model}`);
    console.log(`# embedder: ${info.embedder}`);
    console.log(`# wasm build: ${build} (${wasm.map((u) => new URL(u).pathname).join(', ')}); threads: ${threads}; hardwareConcurrency ${info.cores}; crossOriginIsolated ${info.isolated}`);
    if (info.alert) console.log(`# alert shown: ${info.alert}`);
    await screenshot(page, 'firefox-1-ready');

    assert.equal(info.isolated, true, 'the page is cross-origin isolated (COOP/COEP from serve.py)');
    assert.match(info.model, /llama/, 'the default model (SmolLM2, a llama) is loaded');
    assert.ok(threads, 'the model info names the threads');
    assert.ok(wasm.length > 0, 'the wasm package was fetched');
    // The build the page reports is the one it fetched (www/wasm-package.js picks it by a relaxed-SIMD probe).
    const relaxedFetched = wasm.every((u) => u.includes('/pkg-relaxed/'));
    assert.equal(build === 'relaxed SIMD', relaxedFetched, `reported ${build}, fetched ${wasm.join(', ')}`);

    const served = server.log.length;
    const seen = requests.length;
    const t1 = Date.now();
    const answer = await askAndWait(page, CHAT_QUESTION);
    console.log(`# answered in ${Date.now() - t1} ms: ${JSON.stringify(answer)}`);
    await screenshot(page, 'firefox-2-chat');
    assert.ok(answer.text.trim().length > 0 && answer.text !== '(no answer)', 'a non-empty reply');
    assert.ok(answer.generatedTokens > 0);
    assert.match(answer.stats, /\d+(\.\d+)? tokens\/s/);
    assert.ok(answer.partials.length >= 2, `the reply streamed in (pending text lengths seen: ${answer.partials})`);
    assert.deepEqual(requests.slice(seen), [], 'no request seen by the browser while answering');
    assert.deepEqual(server.log.slice(served), [], 'no request received by the server while answering');
  });

  test('answers from an added text document with a citation to the evidence', { timeout: 420_000, skip }, async () => {
    await waitReady(page);
    const file = join(tmp, FACT_DOC.name);
    writeFileSync(file, FACT_DOC.text);
    const t0 = Date.now();
    await (await byLabel(page, 'Add documents')).uploadFile(file);
    await page.waitForFunction(
      (name) => [...document.querySelectorAll('ul[aria-label="Documents"] .doc-name')].some((e) => e.textContent === name),
      { timeout: ANSWER_TIMEOUT, polling: 100 },
      FACT_DOC.name,
    );
    await waitReady(page, ANSWER_TIMEOUT);
    console.log(`# indexed ${FACT_DOC.name} in ${Date.now() - t0} ms`);

    const served = server.log.length;
    const seen = requests.length;
    const t1 = Date.now();
    const answer = await askAndWait(page, DOC_QUESTION);
    console.log(`# answered in ${Date.now() - t1} ms: ${JSON.stringify(answer)}`);
    assert.match(answer.text, /heliotrope-42/i, 'the answer states the fact from the document');
    const sources = await page.evaluate(() => [...document.querySelectorAll('[role="region"][aria-label="Answer"] [aria-label="Sources"]')].at(-1)?.textContent ?? '');
    assert.match(sources, /larkspur-office\.txt/, 'the sources list names the document');

    // Each citation button of the answer reveals its passage; one names the document and highlights the evidence.
    const turn = (await page.$$('[role="region"][aria-label="Answer"] [data-role="assistant"]')).at(-1);
    const cites = await turn.$$('button.cite');
    assert.ok(cites.length > 0, 'the answer has at least one citation button');
    const cited = [];
    for (const b of cites) {
      if ((await b.evaluate((e) => e.getAttribute('aria-expanded'))) !== 'true') await b.click();
      cited.push(await b.evaluate(citationInPage));
    }
    console.log(`# citations: ${JSON.stringify(cited)}`);
    const toDoc = cited.find((c) => /larkspur-office\.txt/.test(c.label));
    assert.ok(toDoc, 'a citation names the document');
    assert.equal(toDoc.expanded, 'true');
    assert.match(toDoc.passage, /larkspur-office\.txt/, 'the revealed passage names its document');
    assert.equal(toDoc.mark, 'The wifi password of the Larkspur office is heliotrope-42.', 'the evidence sentence is highlighted');
    assert.match(toDoc.passage, /opens at 8 am/, 'the rest of the passage is shown around the highlighted sentence');
    await screenshot(page, 'firefox-3-cited-answer');

    assert.deepEqual(requests.slice(seen), [], 'no request seen by the browser while answering from documents');
    assert.deepEqual(server.log.slice(served), [], 'no request received by the server while answering from documents');
  });

  test('no request left the local test server', { timeout: 60_000, skip }, async () => {
    await new Promise((r) => setTimeout(r, 500)); // let anything still in flight arrive
    const origin = new URL(server.url).origin;
    assert.ok(requests.some((r) => r.url.endsWith('.gguf')), "the worker's model fetch was recorded");
    assert.ok(requests.some((r) => r.url.endsWith('.safetensors')), "the worker's embedder fetch was recorded");
    for (const r of requests) {
      if (r.url.startsWith('data:')) continue; // inline favicon, no network
      assert.equal(new URL(r.url).origin, origin, `request to another origin: ${r.method} ${r.url}`);
      for (const secret of ['heliotrope', 'Larkspur', 'capital of France', encodeURIComponent('capital of France')]) {
        assert.ok(!r.url.includes(secret) && !r.body.includes(secret), `question or document text leaked in ${r.method} ${r.url}`);
      }
    }
    assert.ok(!server.log.some((l) => /heliotrope|larkspur|capital/i.test(l)), 'question or document text leaked to the server');
    console.log(`# ${requests.length} requests seen by the browser, ${server.log.length} served, ${trap.seen.length} tried elsewhere`);
    const servedPaths = new Set(server.log.map((l) => l.match(/"[A-Z]+ (\S+)/)?.[1]));
    const unserved = requests.filter((r) => !servedPaths.has(r.url.startsWith('data:') ? r.url : new URL(r.url).pathname + new URL(r.url).search));
    if (unserved.length) console.log(`# seen by the browser, not in the server's log: ${unserved.map((r) => r.url.slice(0, 60)).join(', ')}`);
    assert.deepEqual(trap.seen, [], 'Firefox tried no request to any other host');
    assert.deepEqual(errors, [], 'no console errors');
  });
});
