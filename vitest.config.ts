// Test runner settings: the forks pool, since Dawn crashed under worker threads.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // A test's GPU errors fail that test, not the next one (test/isolation.ts).
    setupFiles: ['test/isolation.ts'],
    // No test may take a minute even on a busy machine; long runs live in npm run soak.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
