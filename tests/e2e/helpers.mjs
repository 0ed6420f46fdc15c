// Shared set-up for the browser tests: the static server, Debian's Chromium through playwright-core,
// and small page helpers. Run from anywhere: paths are relative to the repository root.

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARTIFACTS = join(ROOT, 'tests', 'artifacts');
export const LOAD_TIMEOUT = 180_000;
export const ANSWER_TIMEOUT = 180_000;

/**
 * Starts scripts/serve.py on a free port (--port 0: the OS picks it, the server prints it). `mounts`:
 * {'/prefix': folder} served too (serve.py --mount).
 */
export async function startServer({ mounts = {} } = {}) {
  const args = Object.entries(mounts).flatMap(([prefix, dir]) => ['--mount', `${prefix}=${dir}`]);
  const proc = spawn('python3', ['scripts/serve.py', '--port', '0', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = []; // one line per request the server answered
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`serve.py did not start: ${stderr}`)), 15_000);
    proc.on('exit', (code) => reject(new Error(`serve.py exited (${code}): ${stderr}`)));
    proc.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = line.match(/^serving (http:\/\/\S+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        } else if (line) log.push(line);
      }
    });
  });
  return {
    url,
    log,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * For a test file: starts the server and Chromium before its tests (then runs `setup(env)`, if given) and
 * stops them after. The returned object's `server` and `browser` are set once the tests run.
 */
export function useServerAndBrowser(setup, { mounts, prepare } = {}) {
  const env = { server: undefined, browser: undefined };
  before(async () => {
    await prepare?.(); // before the server starts (e.g. building what it mounts)
    env.server = await startServer({ mounts });
    env.browser = await launchBrowser();
    await setup?.(env);
  }, { timeout: 1_500_000 }); // `prepare` included: builds and npm installs, each bounded on its own
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  }, { timeout: 60_000 });
  return env;
}

/**
 * A local HTTP proxy a browser is told to use for every non-local request: it records each one (plain
 * requests and CONNECT tunnels) and refuses it, so nothing goes further than this machine.
 */
export async function startEgressTrap({ connections = false } = {}) {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(403).end();
  });
  server.on('connect', (req, socket) => {
    seen.push(`CONNECT ${req.url}`);
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  // `connections`: count every connection too (WebKitGTK speaks TLS to the proxy for https URLs: no request
  // the server can parse, but a connection all the same).
  if (connections) server.on('connection', () => seen.push('connection'));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, seen, stop: () => new Promise((resolve) => server.close(resolve)) };
}

/** Chromium's flags for these tests: headless, and none of its background connections to Google's hosts. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** In the page: starts recording the distinct lengths of the pending answer's text (to see it stream);
 * returns how many answers are finished. streamPartialsInPage() stops and returns the lengths. */
export function watchStreamInPage() {
  window.__partials = [];
  const region = document.querySelector('[role="region"][aria-label="Answer"]');
  window.__streamObserver?.disconnect();
  window.__streamObserver = new MutationObserver(() => {
    const pending = region.querySelector('[data-role="assistant"].pending .text');
    const n = pending?.textContent.length ?? 0;
    if (n > 0 && window.__partials.at(-1) !== n) window.__partials.push(n);
  });
  window.__streamObserver.observe(region, { subtree: true, childList: true, characterData: true });
  return document.querySelectorAll('[data-role="assistant"]:not(.pending)').length;
}

export function streamPartialsInPage() {
  window.__streamObserver.disconnect();
  return window.__partials;
}

/** In the page: what a citation button `e` shows: its label, whether it is expanded, the passage it reveals
 * and that passage's highlighted sentence. */
export function citationInPage(e) {
  const revealed = document.getElementById(e.getAttribute('aria-controls'));
  return {
    label: e.getAttribute('aria-label'),
    expanded: e.getAttribute('aria-expanded'),
    passage: revealed?.textContent ?? '',
    mark: revealed?.querySelector('mark')?.textContent ?? '',
  };
}

/** In the page: the last assistant turn, { text, stats, generatedTokens, stopReason }. */
export function lastAnswerInPage() {
  const turns = document.querySelectorAll('[role="region"][aria-label="Answer"] [data-role="assistant"]');
  const turn = turns[turns.length - 1];
  if (!turn) return null;
  const stats = turn.querySelector('.stats');
  return {
    text: turn.querySelector('.text').textContent,
    stats: stats?.textContent ?? '',
    generatedTokens: stats ? Number(stats.dataset.generatedTokens) : NaN,
    stopReason: stats?.dataset.stopReason ?? '',
  };
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

/**
 * Opens the page in a fresh context, recording every request (the page's and its worker's) and
 * console errors. `prepare(context)`, if given, runs before the page opens (e.g. to add routes).
 * Returns { context, page, requests, errors }.
 */
export async function openApp(browser, url, { prepare } = {}) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 850 } });
  await prepare?.(context);
  const requests = [];
  context.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() ?? '' }));
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  return { context, page, requests, errors };
}

export const statusText = (page) => page.getByRole('status').textContent();

/** The loaded model's description (app.js `describe`: "name · architecture · … · N threads"). */
export const modelInfo = (page) => page.locator('#model-info').textContent();

/** Sets the generation settings given (`temperature`, `maxTokens`) in the Settings panel. */
export async function setSettings(page, { temperature, maxTokens } = {}) {
  const settings = page.locator('#settings');
  if (!(await settings.evaluate((d) => d.open))) await page.getByText('Settings').click();
  if (temperature !== undefined) await page.getByLabel('Temperature').fill(String(temperature));
  if (maxTokens !== undefined) await page.getByLabel('Max tokens').fill(String(maxTokens));
}

/** Waits until the status reads exactly "Ready". */
export async function waitReady(page, timeout = LOAD_TIMEOUT) {
  await page.waitForFunction(() => document.querySelector('[role="status"]')?.textContent === 'Ready', null, {
    timeout,
    polling: 100,
  });
}

/** Number of finished (or failed) assistant answers. */
export const answerCount = (page) =>
  page.getByRole('region', { name: 'Answer' }).locator('[data-role="assistant"]:not(.pending)').count();

/** Types `question`, clicks Ask and waits for the answer to finish. Returns the last answer. */
export async function askAndWait(page, question, timeout = ANSWER_TIMEOUT) {
  const before = await answerCount(page);
  await page.getByLabel('Question').fill(question);
  await page.getByRole('button', { name: 'Ask' }).click();
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-role="assistant"]:not(.pending)').length > n,
    before,
    { timeout, polling: 100 },
  );
  await waitReady(page, timeout);
  return lastAnswer(page);
}

/** The last assistant turn: { text, stats, generatedTokens, stopReason }. */
export async function lastAnswer(page) {
  return page.evaluate(lastAnswerInPage);
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Names shown in the "Documents" list. */
export const documentNames = (page) =>
  page.getByRole('list', { name: 'Documents', exact: true }).locator('.doc-name').allTextContents();

/**
 * Adds files through the "Add documents" input (`files`: [{name, mimeType, buffer}]) and waits until each
 * name is in the "Documents" list and the page is Ready again.
 */
export async function addDocuments(page, files, timeout = ANSWER_TIMEOUT) {
  await page.getByLabel('Add documents').setInputFiles(files);
  await page.waitForFunction(
    (names) => {
      const shown = [...document.querySelectorAll('ul[aria-label="Documents"] .doc-name')].map((e) => e.textContent);
      return names.every((n) => shown.includes(n));
    },
    files.map((f) => f.name),
    { timeout, polling: 100 },
  );
  await waitReady(page, timeout);
}

export const textFile = (name, text, mimeType = 'text/plain') => ({ name, mimeType, buffer: Buffer.from(text) });

/** A minimal valid one-page PDF (Helvetica, one text line per entry of `lines`). */
export function minimalPdf(name, lines) {
  const esc = (s) => s.replace(/[\\()]/g, (c) => `\\${c}`);
  const content = `BT /F1 12 Tf 72 720 Td 16 TL ${lines.map((l) => `(${esc(l)}) Tj T*`).join(' ')} ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
  ];
  let pdf = '%PDF-1.4\n';
  const offsets = objects.map((body, i) => {
    const at = pdf.length;
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
    return at;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  pdf += offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return { name, mimeType: 'application/pdf', buffer: Buffer.from(pdf, 'latin1') };
}

/** Requests to the page's server for model weights (GGUF or safetensors) among `requests`. */
export const weightRequests = (requests) => requests.filter((r) => /\.(gguf|safetensors)(\?|$)/.test(r.url));
