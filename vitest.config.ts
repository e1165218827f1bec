import { defineConfig } from "vitest/config";

const env = {
  STAGE: "local",
  LOG_LEVEL: "silent",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  // Tests resend syncs many times a minute (retry and fault suites); tests/usage-limits.test.ts
  // proves the per-user rate with its own small limit.
  USAGE_SYNCS_PER_MINUTE: "10000",
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["tests/**/*.test.ts"],
          exclude: ["tests/e2e/**"],
          globalSetup: ["tests/setup/dynamo.global.ts"],
          setupFiles: ["tests/setup/env.ts"],
          env,
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["tests/e2e/**/*.test.ts"],
          globalSetup: ["tests/setup/dynamo.global.ts", "tests/setup/offline.global.ts"],
          setupFiles: ["tests/setup/env.ts"],
          env,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
