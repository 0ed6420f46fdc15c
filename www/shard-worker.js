// A pool worker of the page's build (shard-host.js does the work).
import { loadWasm } from './wasm-package.js';
import { serveShards } from './shard-host.js';

serveShards(loadWasm);
