// End-to-end tests: headless Debian chromium (/usr/bin/chromium, or CHROMIUM_PATH) against a
// real `easel serve` (EASEL_BIN) with the tiny SD1 fixture model; see e2e/global_setup.ts.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'e2e',
  testMatch: /.*\.spec\.ts/,
  timeout: 180_000,
  expect: { timeout: 20_000 },
  fullyParallel: false,
  workers: 1, // one server, one worker process: jobs run one at a time anyway
  retries: 0,
  reporter: [['list']],
  globalSetup: './e2e/global_setup.ts',
  use: {
    headless: true,
    viewport: { width: 1280, height: 720 },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    },
    trace: 'off',
    screenshot: 'only-on-failure',
  },
});
