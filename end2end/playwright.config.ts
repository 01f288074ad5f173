import { defineConfig, devices } from '@playwright/test';

// The suite runs twice: hydrated (JavaScript on) and server-rendered only (JavaScript
// off). Playwright starts the app built by `cargo leptos build` on its own port, waits
// for /healthz, and stops it at the end.
const PORT = Number(process.env.E2E_PORT ?? 3100);
export const BASE_URL = `http://127.0.0.1:${PORT}`;

const chromium = {
  ...devices['Desktop Chrome'],
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  },
};

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  workers: 2,
  forbidOnly: !!process.env.CI,
  retries: 0,
  // The JSON report feeds the one-line summary that scripts/test.sh prints at the end.
  reporter: [
    ['list'],
    ['json', { outputFile: 'playwright-report/results.json' }],
    ...(process.env.CI ? [] : [['html', { open: 'never', outputFolder: 'playwright-report/html' }] as const]),
  ],
  use: {
    baseURL: BASE_URL,
    trace: 'retain-on-failure',
  },
  projects: [
    { name: 'hydrated', use: { ...chromium, javaScriptEnabled: true } },
    { name: 'no-js', use: { ...chromium, javaScriptEnabled: false } },
  ],
  webServer: {
    // scripts/bench.sh points this at the release build for the throttled figures.
    command: process.env.E2E_SERVER_BIN ?? './target/debug/number-verify',
    cwd: '..',
    url: `${BASE_URL}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${PORT}`,
      APP_PUBLIC_URL: BASE_URL,
      LEPTOS_SITE_ROOT: process.env.E2E_SITE_ROOT ?? 'target/site',
      LEPTOS_SITE_PKG_DIR: 'pkg',
      LEPTOS_OUTPUT_NAME: 'number-verify',
      SANDBOX: 'on',
      RUST_LOG: 'warn',
      RATE_LIMIT_PER_MINUTE: '1000',
    },
  },
});
