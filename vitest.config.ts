import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@warden/protocol': src('./packages/protocol/src/index.ts'),
      '@warden/server/config': src('./apps/server/src/config-entry.ts'),
      '@warden/server': src('./apps/server/src/index.ts'),
      '@warden/sdk/file-spool': src('./packages/sdk/src/file-spool.ts'),
      '@warden/sdk': src('./packages/sdk/src/index.ts'),
      '@warden/supervisor': src('./apps/supervisor/src/index.ts'),
    },
  },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'apps/*/src/**/*.test.ts',
      'apps/dashboard/test/**/*.test.ts',
      'bench/src/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: two test files at a time.
    maxWorkers: 2,
  },
});
