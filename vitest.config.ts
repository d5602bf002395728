// Test runner settings: the forks pool, since Dawn crashed under worker threads.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // No test may take a minute even on a busy machine; long runs live in npm run soak.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
