import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Pings the shared Redis once (REDIS_URL); tests that need it skip when it is down.
    // Builds the migration console's page into dist/ when it is missing or stale.
    globalSetup: ["test/setup/redis.ts", "test/setup/console-page.ts"],
    setupFiles: ["test/setup/internal-errors.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
  },
});
