// WebKit smoke: the page in WebKitGTK (the engine of Safari), driven over W3C WebDriver by Debian's
// WebKitWebDriver (package webkit2gtk-driver), which starts WebKitGTK's MiniBrowser in an Xvfb display
// (MiniBrowser has no headless mode here). A small WebDriver client over fetch, no npm dependency.
//
// WebKit has no relaxed SIMD, so the page must pick the SIMD128 build (www/pkg, not www/pkg-relaxed). Loads the
// default model, chats (a non-empty reply that streams in), answers from an added text document with a
// citation that reveals the evidence, and makes no request anywhere but the local test server: WebKit's
// WebDriver reports no network requests, so the server's log is checked (nothing served while answering, no
// question or document text in any URL), and the session's proxy is a local trap that records every
// connection WebKit tries to any other host (checked first with a deliberate request to example.com).
// What WebKitGTK lacks must degrade with a message, never fail: here it has no OPFS (navigator.storage is
// undefined: models load without caching, with a warning) and no usable SharedArrayBuffer (one thread).
// Logs the version, the wasm build, threads, and what degraded with which message.
//
// Skipped, saying why, when WebKitWebDriver is absent or there is neither Xvfb nor a DISPLAY
// (scripts/setup.sh installs webkit2gtk-driver and xvfb).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ANSWER_TIMEOUT, ARTIFACTS, LOAD_TIMEOUT, citationInPage, lastAnswerInPage, startEgressTrap, startServer, streamPartialsInPage, watchStreamInPage } from './helpers.mjs';

const DRIVER = process.env.WEBKIT_DRIVER || '/usr/bin/WebKitWebDriver';
const XVFB = '/usr/bin/Xvfb';
const skip = !existsSync(DRIVER)
  ? `WebKitWebDriver not found at ${DRIVER}: install Debian's webkit2gtk-driver (scripts/setup.sh does) or set WEBKIT_DRIVER`
  : !existsSync(XVFB) && !process.env.DISPLAY
    ? `neither Xvfb (${XVFB}) nor a DISPLAY for WebKitGTK's MiniBrowser: install Debian's xvfb (scripts/setup.sh does)`
    : false;

const FACT_DOC = {
  name: 'larkspur-office.txt',
  text: 'Larkspur office notes\n\nThe wifi password of the Larkspur office is heliotrope-42. The office opens at 8 am on weekdays.\n',
};
const DOC_QUESTION = 'What is the wifi password of the Larkspur office?';
const CHAT_QUESTION = 'What is the capital of France?';
const SECRETS = ['heliotrope', 'larkspur', 'capital', 'france'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1 (for WebKitWebDriver, which takes a port and cannot report one it picked). */
async function freePort() {
  const s = createNetServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Starts Xvfb on a display it picks (-displayfd). Resolves to { display, stop }. */
async function startXvfb() {
  const proc = spawn(XVFB, ['-displayfd', '1', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const display = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Xvfb did not start: ${stderr}`)), 15_000);
    proc.on('exit', (code) => reject(new Error(`Xvfb exited (${code}): ${stderr}`)));
    proc.stdout.once('data', (d) => {
      clearTimeout(timer);
      resolve(`:${String(d).trim()}`);
    });
  });
  return { display, stop: () => stopProcess(proc) };
}

// Ends `proc` and its process group (a driver's MiniBrowser too; spawned `detached`, so the group is its own).
async function stopProcess(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  const signal = (sig) => {
    try {
      process.kill(-proc.pid, sig);
    } catch {
      proc.kill(sig);
    }
  };
  signal('SIGTERM');
  const killed = setTimeout(() => signal('SIGKILL'), 5_000); // one that ignores SIGTERM does not hold the suite
  await exited;
  clearTimeout(killed);
}


const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

/**
 * Starts WebKitWebDriver on `display` and opens a session: { proc, call, session }. Every call is bounded (the
 * page's own waits are in waitFor), so a browser that never answers fails in minutes, saying what the driver
 * printed, instead of at fetch's 5-minute header timeout.
 */
async function startDriverSession(display, capabilities, sessionTimeoutMs) {
  const port = await freePort();
  const proc = spawn(DRIVER, [`--port=${port}`], { env: { ...process.env, DISPLAY: display }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body, timeoutMs = 120_000) => {
    let res;
    try {
      res = await fetch(base + path, {
        method,
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new Error(`WebDriver ${method} ${path}: ${e.cause?.message ?? e.message}; WebKitWebDriver printed: ${output.slice(-4000) || '(nothing)'}`);
    }
    const json = await res.json();
    if (!res.ok) throw new Error(`WebDriver ${method} ${path}: ${json.value?.error}: ${json.value?.message}`);
    return json.value;
  };
  try {
    for (let t0 = Date.now(); ; await sleep(100)) {
      try {
        if ((await call('GET', '/status', undefined, 5_000)).ready) break;
      } catch (e) {
        if (proc.exitCode !== null) throw new Error(`WebKitWebDriver exited (${proc.exitCode}): ${output}`);
        if (Date.now() - t0 > 15_000) throw new Error(`WebKitWebDriver did not start: ${e.message} ${output}`);
      }
    }
    const session = await call('POST', '/session', { capabilities: { alwaysMatch: capabilities } }, sessionTimeoutMs);
    return { proc, call, session };
  } catch (e) {
    await stopProcess(proc);
    throw e;
  }
}

/** A session in WebKit, with a small client. */
async function startWebKit(display, capabilities) {
  // WebKitWebDriver 2.50 sometimes never answers the new-session request, and starts no browser (here about 1
  // start in 8, and in CI): a session normally opens in under a second, so a start that takes 30 s is given up
  // and the driver started again.
  const ATTEMPTS = 3;
  let started;
  for (let attempt = 1; !started; attempt++) {
    try {
      started = await startDriverSession(display, capabilities, 30_000);
    } catch (e) {
      if (attempt >= ATTEMPTS) throw e;
      console.log(`# WebKit start ${attempt} of ${ATTEMPTS} failed (${e.message.split(';')[0]}): starting the driver again`);
    }
  }
  const { proc, call, session } = started;
  const s = `/session/${session.sessionId}`;
  return {
    capabilities: session.capabilities,
    call: (method, path, body) => call(method, s + path, body),
    goto: (url) => call('POST', `${s}/url`, { url }),
    /** Runs `fn` (a function, serialised) in the page with `args`; returns its (awaited) result. */
    evaluate: (fn, ...args) => call('POST', `${s}/execute/sync`, { script: `return (${fn}).apply(null, arguments)`, args }),
    /** Polls `fn` in the page until it returns a truthy value (returned). */
    async waitFor(fn, { timeout, polling = 200, args = [], what = String(fn) } = {}) {
      const t0 = Date.now();
      for (;;) {
        const v = await this.evaluate(fn, ...args);
        if (v) return v;
        if (Date.now() - t0 > timeout) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
        await sleep(polling);
      }
    },
    elementId: (ref) => ref?.[ELEMENT],
    click: (ref) => call('POST', `${s}/element/${ref[ELEMENT]}/click`, {}),
    type: (ref, text) => call('POST', `${s}/element/${ref[ELEMENT]}/value`, { text }),
    async screenshot(name) {
      const png = await call('GET', `${s}/screenshot`);
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(join(ARTIFACTS, `${name}.png`), Buffer.from(png, 'base64'));
    },
    async quit() {
      await call('DELETE', s, undefined, 10_000).catch(() => {});
      await stopProcess(proc);
    },
  };
}

async function waitReady(wk, timeout = LOAD_TIMEOUT) {
  await wk.waitFor(() => document.querySelector('[role="status"]')?.textContent === 'Ready', { timeout, polling: 100, what: 'the status "Ready"' });
}

/** The form control a <label> with exactly `text` names. */
async function byLabel(wk, text) {
  const ref = await wk.evaluate((t) => [...document.querySelectorAll('label')].find((l) => l.textContent.trim() === t)?.control ?? null, text);
  assert.ok(wk.elementId(ref), `a control labelled "${text}"`);
  return ref;
}


/**
 * Types `question`, clicks Ask and waits for the answer to finish, recording the assistant text while it is
 * still pending (to see it stream). Returns the last answer plus `partials`: the distinct lengths of the
 * pending answer's text, in order.
 */
async function askAndWait(wk, question, timeout = ANSWER_TIMEOUT) {
  const before = await wk.evaluate(watchStreamInPage);
  const box = await byLabel(wk, 'Question');
  await wk.call('POST', `/element/${wk.elementId(box)}/clear`, {});
  await wk.type(box, question);
  const ask = await wk.evaluate(() => [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Ask') ?? null);
  await wk.click(ask);
  await wk.waitFor((n) => document.querySelectorAll('[data-role="assistant"]:not(.pending)').length > n, {
    timeout,
    args: [before],
    what: 'the answer',
  });
  await waitReady(wk, timeout);
  const partials = await wk.evaluate(streamPartialsInPage);
  return { ...(await wk.evaluate(lastAnswerInPage)), partials };
}

/** What the page shows beside the status: the alert (errors) and the storage warnings. */
const shown = () => ({
  alert: document.querySelector('[role="alert"]')?.textContent ?? '',
  storageWarning: document.querySelector('#storage-warning')?.textContent ?? '',
  phase: document.querySelector('#phase')?.textContent ?? '',
});

describe('WebKit (WebKitGTK MiniBrowser) smoke', () => {
  let xvfb, wk, server, trap, tmp;
  let trapChecked = 0; // connections the trap saw from the deliberate check, before the page opened
  let opfs = true; // navigator.storage.getDirectory exists

  before(async () => {
    if (skip) return; // each test says so (counted as skipped in the summary)
    tmp = mkdtempSync(join(tmpdir(), 'hearth-webkit-'));
    server = await startServer();
    trap = await startEgressTrap({ connections: true });
    xvfb = existsSync(XVFB) ? await startXvfb() : null;
    const proxy = `127.0.0.1:${trap.port}`;
    wk = await startWebKit(xvfb?.display ?? process.env.DISPLAY, {
      // Everything but the local test server goes to the trap.
      proxy: { proxyType: 'manual', httpProxy: proxy, sslProxy: proxy, noProxy: ['127.0.0.1', 'localhost'] },
      timeouts: { script: 60_000, pageLoad: 60_000, implicit: 0 },
    });
    console.log(`# browser: ${wk.capabilities.browserName} ${wk.capabilities.browserVersion} (WebKitGTK) on display ${xvfb?.display ?? process.env.DISPLAY}`);
    await wk.call('POST', '/window/rect', { width: 1200, height: 850 }).catch(() => {});
    // The trap works: a deliberate request to another host reaches it (and goes no further).
    await wk.goto('http://example.com/').catch(() => {});
    await sleep(300);
    trapChecked = trap.seen.length;
    assert.ok(trap.seen.some((s) => s.includes('example.com')), `the proxy trap sees requests to other hosts (saw ${JSON.stringify(trap.seen)})`);
  }, { timeout: 420_000 }); // three driver starts at most (about 50 s each), Xvfb and the first page

  after(async () => {
    await wk?.quit();
    await xvfb?.stop();
    await server?.stop();
    await trap?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, { timeout: 60_000 });

  test('loads the default model on the SIMD128 build and streams a chat reply', { timeout: 420_000, skip }, async () => {
    const t0 = Date.now();
    await wk.goto(server.url);
    // Console errors and uncaught exceptions from here on (WebKit's WebDriver reports neither).
    await wk.evaluate(() => {
      window.__errors = [];
      const error = console.error.bind(console);
      console.error = (...a) => (window.__errors.push(a.map(String).join(' ')), error(...a));
      addEventListener('error', (e) => window.__errors.push(`error: ${e.message}`));
      addEventListener('unhandledrejection', (e) => window.__errors.push(`unhandled rejection: ${e.reason}`));
    });
    await wk.waitFor(() => document.querySelector('[role="status"]')?.textContent === 'Ready' || document.querySelector('[role="alert"]')?.textContent, {
      timeout: LOAD_TIMEOUT,
      polling: 100,
      what: 'the status "Ready" (or an alert)',
    });
    console.log(`# model ready after ${Date.now() - t0} ms`);
    const info = await wk.evaluate(() => ({
      userAgent: navigator.userAgent,
      isolated: crossOriginIsolated,
      sharedArrayBuffer: typeof SharedArrayBuffer,
      cores: navigator.hardwareConcurrency,
      relaxedSimd: WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253, 15, 253, 128, 2, 11])),
      opfs: typeof navigator.storage?.getDirectory === 'function',
      createWritable: typeof globalThis.FileSystemFileHandle?.prototype.createWritable === 'function',
      webLocks: typeof navigator.locks?.request === 'function',
      model: document.querySelector('#model-info').textContent,
      embedder: document.querySelector('#embedder-info').textContent,
      status: document.querySelector('[role="status"]').textContent,
    }));
    const page = await wk.evaluate(shown);
    const wasm = server.log.map((l) => l.match(/"GET (\S+hearth_bg\.wasm)/)?.[1]).filter(Boolean);
    const build = info.model.includes('relaxed SIMD') ? 'relaxed SIMD' : info.model.includes('· SIMD') ? 'SIMD' : 'no SIMD';
    const threads = info.model.match(/(\d+) threads?/)?.[1];
    console.log(`# user agent: ${info.userAgent}`);
    console.log(`# model: ${info.model}`);
    console.log(`# embedder: ${info.embedder}`);
    console.log(`# wasm build: ${build} (${wasm.join(', ')}); relaxed SIMD validates: ${info.relaxedSimd}; threads: ${threads}; hardwareConcurrency ${info.cores}`);
    console.log(`# crossOriginIsolated ${info.isolated}; typeof SharedArrayBuffer ${info.sharedArrayBuffer}; OPFS getDirectory ${info.opfs}; createWritable ${info.createWritable}; Web Locks ${info.webLocks}`);
    if (page.alert) console.log(`# alert shown: ${page.alert}`);
    if (page.storageWarning) console.log(`# storage warning shown: ${page.storageWarning}`);
    await wk.screenshot('webkit-1-ready');

    assert.equal(page.alert, '', 'no error shown');
    assert.equal(info.status, 'Ready');
    assert.equal(info.isolated, true, 'the page is cross-origin isolated (COOP/COEP from serve.py)');
    assert.match(info.model, /llama/, 'the default model (SmolLM2, a llama) is loaded');
    assert.ok(threads, 'the model info names the threads');
    // No relaxed SIMD in WebKit: the SIMD128 build is fetched and reported.
    assert.equal(info.relaxedSimd, false, 'WebKit validates no relaxed-SIMD module (if it now does, this test no longer covers the SIMD128 build)');
    assert.equal(build, 'SIMD', 'the page reports the SIMD128 build');
    assert.deepEqual(wasm, ['/pkg/hearth_bg.wasm'], 'only the SIMD128 build was fetched');
    // What the engine lacks degrades with a message, never a failure.
    opfs = info.opfs;
    if (!info.opfs) {
      assert.match(page.storageWarning, /^Could not cache SmolLM2-135M-Instruct\.Q4_1\.gguf: this browser gives pages no private file storage \(OPFS\)$/m, 'without OPFS, the page says the model is not cached, and why');
    } else if (!info.createWritable) {
      assert.match(page.storageWarning, /^Could not cache SmolLM2-135M-Instruct\.Q4_1\.gguf: this browser cannot write files/m, 'without createWritable, the page says the model is not cached, and why');
    }
    if (info.sharedArrayBuffer === 'undefined') {
      assert.equal(threads, '1', 'without SharedArrayBuffer, one thread');
      if (info.cores > 1) assert.match(info.model, /1 thread \(this browser cannot share memory with workers\)/, 'the page says why');
    }

    const served = server.log.length;
    const t1 = Date.now();
    const answer = await askAndWait(wk, CHAT_QUESTION);
    console.log(`# answered in ${Date.now() - t1} ms: ${JSON.stringify(answer)}`);
    await wk.screenshot('webkit-2-chat');
    assert.ok(answer.text.trim().length > 0 && answer.text !== '(no answer)', 'a non-empty reply');
    assert.ok(answer.generatedTokens > 0);
    assert.match(answer.stats, /\d+(\.\d+)? tokens\/s/);
    assert.ok(answer.partials.length >= 2, `the reply streamed in (pending text lengths seen: ${answer.partials})`);
    assert.deepEqual(server.log.slice(served), [], 'no request received by the server while answering');
  });

  test('answers from an added text document with a citation to the evidence', { timeout: 420_000, skip }, async () => {
    await waitReady(wk);
    const file = join(tmp, FACT_DOC.name);
    writeFileSync(file, FACT_DOC.text);
    const t0 = Date.now();
    await wk.type(await byLabel(wk, 'Add documents'), file);
    await wk.waitFor((name) => [...document.querySelectorAll('ul[aria-label="Documents"] .doc-name')].some((e) => e.textContent === name), {
      timeout: ANSWER_TIMEOUT,
      args: [FACT_DOC.name],
      what: `${FACT_DOC.name} in the Documents list`,
    });
    await waitReady(wk, ANSWER_TIMEOUT);
    console.log(`# indexed ${FACT_DOC.name} in ${Date.now() - t0} ms`);
    const page = await wk.evaluate(shown);
    if (page.storageWarning) console.log(`# storage warning shown: ${page.storageWarning}`);
    assert.equal(page.alert, '', 'no error shown');
    if (!opfs) {
      assert.match(page.storageWarning, /^The index could not be saved in this browser \(this browser gives pages no private file storage \(OPFS\)\); the change is lost on reload\.$/m, 'without OPFS, the page says the documents are not saved');
    }

    const served = server.log.length;
    const t1 = Date.now();
    const answer = await askAndWait(wk, DOC_QUESTION);
    console.log(`# answered in ${Date.now() - t1} ms: ${JSON.stringify(answer)}`);
    assert.match(answer.text, /heliotrope-42/i, 'the answer states the fact from the document');
    const sources = await wk.evaluate(() => [...document.querySelectorAll('[role="region"][aria-label="Answer"] [aria-label="Sources"]')].at(-1)?.textContent ?? '');
    assert.match(sources, /larkspur-office\.txt/, 'the sources list names the document');

    // Each citation button of the answer reveals its passage; one names the document and highlights the evidence.
    const cites = await wk.evaluate(() => [...[...document.querySelectorAll('[role="region"][aria-label="Answer"] [data-role="assistant"]')].at(-1).querySelectorAll('button.cite')]);
    assert.ok(cites.length > 0, 'the answer has at least one citation button');
    const cited = [];
    for (const b of cites) {
      if ((await wk.evaluate((e) => e.getAttribute('aria-expanded'), b)) !== 'true') await wk.click(b);
      cited.push(await wk.evaluate(citationInPage, b));
    }
    console.log(`# citations: ${JSON.stringify(cited)}`);
    const toDoc = cited.find((c) => /larkspur-office\.txt/.test(c.label));
    assert.ok(toDoc, 'a citation names the document');
    assert.equal(toDoc.expanded, 'true');
    assert.match(toDoc.passage, /larkspur-office\.txt/, 'the revealed passage names its document');
    assert.equal(toDoc.mark, 'The wifi password of the Larkspur office is heliotrope-42.', 'the evidence sentence is highlighted');
    assert.match(toDoc.passage, /opens at 8 am/, 'the rest of the passage is shown around the highlighted sentence');
    await wk.screenshot('webkit-3-cited-answer');
    assert.deepEqual(server.log.slice(served), [], 'no request received by the server while answering from documents');
  });

  test('no request left the local test server', { timeout: 60_000, skip }, async () => {
    await sleep(500); // let anything still in flight arrive
    const paths = server.log.map((l) => l.match(/"[A-Z]+ (\S+)/)?.[1] ?? l);
    assert.ok(paths.some((p) => p.endsWith('.gguf')), "the worker's model fetch reached the server");
    assert.ok(paths.some((p) => p.endsWith('.safetensors')), "the worker's embedder fetch reached the server");
    for (const l of server.log) {
      for (const secret of SECRETS) assert.ok(!l.toLowerCase().includes(secret), `question or document text reached the server: ${l}`);
    }
    console.log(`# ${server.log.length} requests served, ${trap.seen.length - trapChecked} tried elsewhere`);
    assert.deepEqual(trap.seen.slice(trapChecked), [], 'WebKit tried no request to any other host');
    const errors = await wk.evaluate(() => window.__errors ?? []);
    assert.deepEqual(errors, [], 'no console errors or uncaught exceptions in the page');
  });
});
