import { defineConfig } from "vitest/config"

// One root config: every package's tests run from source through the "@lazypull/source" export condition.
export default defineConfig({
  resolve: { conditions: ["@lazypull/source", "import", "default"] },
  ssr: {
    resolve: {
      conditions: ["@lazypull/source", "import", "default"],
      externalConditions: ["@lazypull/source"],
    },
  },
  test: {
    include: ["packages/*/src/**/*.test.ts", "apps/*/src/**/*.test.ts"],
    globalSetup: ["test-fixtures/setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
  },
})
