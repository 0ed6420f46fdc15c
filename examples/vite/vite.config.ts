import { defineConfig } from 'vite';

// Cross-origin isolation lets hearth-web share a model between workers (threads); without it, one thread.
// Production hosts send these headers themselves (docs/DEPLOY.md); here for `vite` and `vite preview`.
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  // Relative asset URLs: dist/ can be served from any folder.
  base: './',
  // hearth-web's worker imports modules (pdf.js lazily) and starts pool workers of its own: ES module workers.
  worker: { format: 'es' },
  // Not pre-bundled in dev: its worker, wasm and pool-worker files are found next to its modules (import.meta.url).
  optimizeDeps: { exclude: ['hearth-web'] },
  build: { target: 'es2022' },
  server: { headers: isolation },
  preview: { headers: isolation },
});
