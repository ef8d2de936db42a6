import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `npm run dev -w apps/dashboard` proxies the API and WebSocket to a local `warden serve`.
const target = process.env.WARDEN_URL ?? 'http://127.0.0.1:7070';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 700 },
  server: {
    proxy: {
      '/api': target,
      '/ws': { target, ws: true },
    },
  },
});
