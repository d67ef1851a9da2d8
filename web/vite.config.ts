import { defineConfig } from 'vite';

// No @types/node needed for this one variable.
declare const process: { env: Record<string, string | undefined> };

// The console is served by `safeguard serve` under /console/; the API lives
// on the same origin under /v1. In development, `npm run dev` proxies /v1 to
// a running server (SG_API overrides the default address).
const api = process.env.SG_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/console/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // One small bundle, hashed file names; no inlined data: URLs so a strict
    // Content-Security-Policy (img-src 'self' blob:) works.
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/v1': { target: api, changeOrigin: false },
    },
  },
  preview: {
    proxy: {
      '/v1': { target: api, changeOrigin: false },
    },
  },
});
