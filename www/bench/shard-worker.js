// A pool worker of the benchmark's build (shard-host.js does the work).
import { loadWasm } from './wasm-package.js';
import { serveShards } from '../shard-host.js';

serveShards(loadWasm);
