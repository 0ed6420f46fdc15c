// Runs www/bench.html in headless Chromium for each model given on the command line and prints one JSON
// line per model: node tests/bench/browser.mjs <model id> [...] (with PROMPT, GEN, RUNS in the environment).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startServer, launchBrowser } from '../e2e/helpers.mjs';

const manifest = JSON.parse(readFileSync(join(ROOT, 'models', 'manifest.json'), 'utf8'));
const ids = process.argv.slice(2);
const q = `prompt=${process.env.PROMPT || 200}&gen=${process.env.GEN || 128}&runs=${process.env.RUNS || 3}`;
const server = await startServer();
const browser = await launchBrowser();
try {
  for (const id of ids) {
    const entry = manifest.models.find((m) => m.id === id);
    if (!entry) throw new Error(`${id} is not in the manifest`);
    const page = await browser.newPage();
    await page.goto(`${server.url}/bench.html?model=/models/${id}/${entry.files[0].name}&${q}`);
    await page.waitForFunction(() => document.body.dataset.done, null, { timeout: 900_000 });
    const result = JSON.parse(await page.locator('#results').textContent());
    if (result.type !== 'done') throw new Error(`${id}: ${result.message}`);
    console.log(JSON.stringify({ model: id, load_ms: result.load_ms, runs: result.runs }));
    await page.close();
  }
} finally {
  await browser.close();
  await server.stop();
}
