// /proc helpers for the browser benchmark (Linux): CPU load from processes other than ours, waiting for an
// idle CPU, and the resident memory of Chromium's renderer processes.
import { readdirSync, readFileSync } from 'node:fs';

const read = (p) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null; // the process ended
  }
};

/** Machine-wide jiffies: { total, busy } from the first line of /proc/stat (idle and iowait are not busy). */
function machine() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest time is already in user)
  return { total, busy: total - f[3] - f[4] };
}

/** Every process: pid → { ppid, jiffies (utime + stime) }. */
function processes() {
  const out = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = read(`/proc/${name}/stat`);
    if (!s) continue;
    const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    out.set(Number(name), { ppid: Number(f[1]), jiffies: Number(f[11]) + Number(f[12]) });
  }
  return out;
}

/** pids of `root` and all its descendants. */
function tree(procs, root) {
  const kids = new Map();
  for (const [pid, p] of procs) {
    if (!kids.has(p.ppid)) kids.set(p.ppid, []);
    kids.get(p.ppid).push(pid);
  }
  const out = [];
  for (const stack = [root]; stack.length; ) {
    const pid = stack.pop();
    out.push(pid);
    stack.push(...(kids.get(pid) || []));
  }
  return out;
}

/**
 * A CPU-time snapshot: the machine's jiffies and those of this process tree (node, the static server,
 * Chromium and everything it started). `otherLoad(a, b)` is the share of the whole machine (all cores) that
 * other processes kept busy between two snapshots: 0.1 = 10% of the machine = 0.2 cores on two cores.
 */
export function snapshot() {
  const procs = processes();
  const ours = new Map(tree(procs, process.pid).map((pid) => [pid, procs.get(pid)?.jiffies ?? 0]));
  return { at: Date.now(), machine: machine(), ours };
}

export function otherLoad(a, b) {
  const total = b.machine.total - a.machine.total;
  if (total <= 0) return 0;
  let ours = 0;
  for (const [pid, j] of b.ours) ours += j - (a.ours.get(pid) ?? 0);
  return Math.max(0, (b.machine.busy - a.machine.busy - ours) / total);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until other processes kept the machine less than `threshold` busy over one second (at most
 * `maxMs`). Returns { waited_ms, load } (load of the last second; > threshold if it gave up).
 */
export async function waitIdle({ threshold = 0.1, maxMs = 60_000, log = () => {} } = {}) {
  const t0 = Date.now();
  let told = false;
  for (;;) {
    const a = snapshot();
    await sleep(1000);
    const load = otherLoad(a, snapshot());
    if (load < threshold) return { waited_ms: Date.now() - t0, load };
    if (Date.now() - t0 >= maxMs) {
      log(`CPU still ${(load * 100).toFixed(0)}% busy after ${maxMs / 1000} s: timing anyway`);
      return { waited_ms: Date.now() - t0, load };
    }
    if (!told) log(`waiting for an idle CPU (other processes: ${(load * 100).toFixed(0)}% of the machine)`);
    told = true;
  }
}

const kb = (status, key) => {
  const m = status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) * 1024 : 0;
};

/** Renderer processes (`--type=renderer`) under process `root`. */
export function rendererPids(root) {
  return tree(processes(), root).filter((pid) => {
    const cmd = read(`/proc/${pid}/cmdline`);
    return cmd && cmd.includes('--type=renderer');
  });
}

/**
 * Samples the memory of the renderers under process `root` every `everyMs` until stop(), which returns
 * { peak_bytes, hwm_bytes, renderers }. peak_bytes: the highest private resident memory (RssAnon + RssShmem:
 * JS heaps, wasm memories, shared buffers; not the Chromium binary's file pages, which every renderer maps) of
 * one renderer in any sample. hwm_bytes: the highest VmHWM (the kernel's own peak of the whole resident size,
 * file pages included) of one renderer. The renderer list is refreshed once a second.
 */
export function sampleRenderers(root, everyMs = 100) {
  let pids = rendererPids(root);
  let peak = 0;
  let hwm = 0;
  let ticks = 0;
  const tick = () => {
    if (++ticks % Math.max(1, Math.round(1000 / everyMs)) === 0) pids = rendererPids(root);
    for (const pid of pids) {
      const s = read(`/proc/${pid}/status`);
      if (!s) continue;
      peak = Math.max(peak, kb(s, 'RssAnon') + kb(s, 'RssShmem'));
      hwm = Math.max(hwm, kb(s, 'VmHWM'));
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  let result = null;
  return {
    stop() {
      if (!result) {
        clearInterval(timer);
        pids = rendererPids(root);
        tick();
        result = { peak_bytes: peak, hwm_bytes: hwm, renderers: pids.length };
      }
      return result;
    },
  };
}
