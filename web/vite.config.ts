// Vite build of the web UI into dist/ (served by `easel serve` at /), and the Vitest setup.
// `npm run dev` proxies the APIs to a running server: EASEL_URL (default http://127.0.0.1:7860).
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

const target = process.env.EASEL_URL ?? 'http://127.0.0.1:7860';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: { outDir: 'dist', sourcemap: false, chunkSizeWarningLimit: 600 },
  server: {
    proxy: {
      '/api': { target, changeOrigin: false },
      '/sdapi': { target, changeOrigin: false },
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    include: ['tests/**/*.test.{ts,tsx}'],
    setupFiles: ['tests/setup.ts'],
  },
});
