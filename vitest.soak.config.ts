// Soak runs (npm run soak): long training and memory loops kept out of npm test's time budget; CI runs both.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.soak.ts'],
    pool: 'forks',
    // A test's GPU errors fail that test, not the next one (test/isolation.ts).
    setupFiles: ['test/isolation.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
  },
});
