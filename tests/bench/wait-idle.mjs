// Waits until other processes use less than IDLE (10%) of the machine over one second, 60 s at most
// (scripts/bench.sh calls it before each native benchmark). Prints nothing unless it has to wait.
import { waitIdle } from './procfs.mjs';

await waitIdle({ threshold: Number(process.env.IDLE || 0.1), log: (m) => console.error(`bench: ${m}`) });
