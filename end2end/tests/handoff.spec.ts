import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, expect, devices, type Browser, type Page, type TestInfo } from '@playwright/test';
import { hydrated, openPage } from './helpers';

// Desktop → phone handoff with two browser contexts: the desktop (this project's
// browser) and a phone (an Android phone's user agent and screen). The phone proves the
// number through the virtual operator; the desktop hears the verdict without navigating
// (JavaScript on) or with "Check" (off).

const { defaultBrowserType: _unused, ...pixel } = devices['Pixel 7'];

const WALLET = path.join(__dirname, '..', 'support', 'virtual-wallet.js');

/** A phone. Chromium's Digital Credentials API with no provider never settles: hidden,
 * unless the phone brings the virtual wallet. */
async function phoneIn(browser: Browser, info: TestInfo, opts: { wallet?: boolean } = {}): Promise<Page> {
  const context = await browser.newContext({
    ...pixel,
    baseURL: info.project.use.baseURL,
    javaScriptEnabled: info.project.use.javaScriptEnabled,
  });
  if (opts.wallet) {
    await context.addInitScript({ path: WALLET });
  } else {
    await context.addInitScript(() => {
      Object.defineProperty(window, 'DigitalCredential', { value: undefined, configurable: true });
    });
  }
  return context.newPage();
}

/** Types the number on the desktop and presses "Continue on your phone": the link and code. */
async function handOff(desktop: Page, info: TestInfo, origin = '') {
  await openPage(desktop, info, origin + '/');
  await desktop.getByLabel('Phone number').fill('+99012345678');
  await desktop.getByRole('button', { name: 'Continue on your phone' }).click();
  await expect(desktop.locator('.qr svg')).toBeVisible();
  await expect(desktop.locator('#handoff-status')).toHaveText('Waiting for your phone…');
  const link = await desktop.locator('[data-handoff-url]').getAttribute('data-handoff-url');
  const code = (await desktop.locator('#match-code').textContent()) ?? '';
  expect(link).toMatch(/\/handoff\?h=[A-Za-z0-9_-]{43}$/);
  expect(code).toMatch(/^[A-Z0-9]{3}-[A-Z0-9]{3}$/);
  return { link: link!, code };
}

/** The phone opens `link`, sees the number and the desktop's code, and continues. */
async function continueOnPhone(phone: Page, link: string, code: string) {
  await phone.goto(link);
  await expect(phone.locator('#handoff-number')).toHaveText('+99012345678');
  await expect(phone.locator('#match-code')).toHaveText(code);
  await phone.getByRole('button', { name: 'Continue' }).click();
  await expect(phone.locator('#handoff-done')).toHaveText('Done — return to your computer.');
}

/** The desktop shows the verdict: live with JavaScript (and never navigated), by "Check" without. */
async function desktopShowsVerdict(desktop: Page, info: TestInfo, marked: boolean) {
  if (hydrated(info)) {
    await expect(desktop.locator('#handoff-status')).toHaveText('+99012345678: verified!');
    await expect(desktop.locator('#handoff-status')).toHaveClass(/verified/);
    expect(marked && (await desktop.evaluate(() => (window as any).__stayed === true))).toBe(true);
  } else {
    await desktop.getByRole('button', { name: 'Check' }).click();
    await expect(desktop.locator('#result')).toHaveText('+99012345678: verified!');
  }
}

/** Marks the desktop's document: the mark survives only if it never navigates. */
async function mark(desktop: Page, info: TestInfo) {
  if (!hydrated(info)) return false;
  await desktop.evaluate(() => { (window as any).__stayed = true; });
  return true;
}

test('a desktop hands off to a phone, and the link works once', async ({ page: desktop, browser }, info) => {
  const { link, code } = await handOff(desktop, info);
  const desktopUrl = desktop.url();
  const marked = await mark(desktop, info);
  const phone = await phoneIn(browser, info);
  await continueOnPhone(phone, link, code);
  await desktopShowsVerdict(desktop, info, marked);
  if (hydrated(info)) expect(desktop.url()).toBe(desktopUrl);

  // Used: the same phone, and any other, is told so and verifies nothing.
  await phone.goto(link);
  await expect(phone.locator('#handoff-problem')).toHaveText(/already been used/);
  const other = await phoneIn(browser, info);
  await other.goto(link);
  await expect(other.locator('#handoff-problem')).toHaveText(/already been used/);
  await expect(other.getByRole('button', { name: 'Continue' })).toHaveCount(0);
  await phone.context().close();
  await other.context().close();
});

test('a phone on Wi-Fi continues with its number credential', async ({ page: desktop, browser }, info) => {
  test.skip(!hydrated(info), 'the credential is asked for by the page script');
  const { link, code } = await handOff(desktop, info);
  const marked = await mark(desktop, info);
  const phone = await phoneIn(browser, info, { wallet: true });
  await phone.goto('/');
  await phone.getByRole('button', { name: 'Simulate Wi-Fi' }).click();
  await expect(phone.locator('#sim-status')).toContainText('on Wi-Fi');
  await phone.goto(link);
  await expect(phone.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(phone.locator('#match-code')).toHaveText(code);
  await phone.getByRole('button', { name: 'Continue' }).click();
  await expect(phone.locator('#handoff-done')).toHaveText('Done — return to your computer.');
  await desktopShowsVerdict(desktop, info, marked);
  // The desktop's page, reloaded, says how: the credential, not the network.
  await desktop.reload();
  await expect(desktop.locator('#proof')).toHaveText(/number credential/);
  await phone.context().close();
});

test('a phone is not offered the handoff; a foreign link verifies nothing', async ({ browser }, info) => {
  const phone = await phoneIn(browser, info);
  await phone.goto('/');
  await expect(phone.getByRole('button', { name: 'Verify' })).toBeVisible();
  await expect(phone.getByRole('button', { name: 'Continue on your phone' })).toHaveCount(0);
  await phone.goto('/handoff?h=' + 'A'.repeat(43));
  await expect(phone.locator('#handoff-problem')).toHaveText(/not one this service gave out/);
  await phone.context().close();
});

// Two instances on one Redis, started here on free ports: the desktop on A, the phone on
// B; the verdict reaches A's live stream through Redis.
test.describe('across two instances on one Redis', () => {
  const started: ChildProcess[] = [];
  let a = '';
  let b = '';
  let dir = '';

  test.beforeAll(async ({}, info) => {
    test.skip(!hydrated(info), 'the live verdict needs the page script; the no-JS check across instances is tests/it');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nv-handoff-'));
    const redisPort = await freePort();
    started.push(spawnLogged('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]));
    await reachable(redisPort);
    const root = path.join(__dirname, '..', '..');
    for (const which of ['a', 'b']) {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      started.push(spawnLogged(process.env.E2E_SERVER_BIN ?? './target/debug/number-verify', [], {
        cwd: root,
        env: {
          ...process.env,
          LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
          APP_PUBLIC_URL: base,
          LEPTOS_SITE_ROOT: process.env.E2E_SITE_ROOT ?? 'target/site',
          LEPTOS_SITE_PKG_DIR: 'pkg',
          LEPTOS_OUTPUT_NAME: 'number-verify',
          SANDBOX: 'on',
          RUST_LOG: 'warn',
          REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        },
      }));
      await healthy(base);
      if (which === 'a') a = base; else b = base;
    }
  });

  test.afterAll(async () => {
    for (const child of started) child.kill('SIGTERM');
    await Promise.all(started.map((child) => new Promise((done) => (child.exitCode !== null ? done(null) : child.once('exit', done)))));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the desktop on one instance hears the phone on the other', async ({ page: desktop, browser }, info) => {
    const { link, code } = await handOff(desktop, info, a);
    expect(link.startsWith(a)).toBe(true);
    const marked = await mark(desktop, info);
    const phone = await phoneIn(browser, info);
    await continueOnPhone(phone, link.replace(a, b), code);
    await desktopShowsVerdict(desktop, info, marked);
    await phone.goto(link.replace(a, b));
    await expect(phone.locator('#handoff-problem')).toHaveText(/already been used/);
    await phone.context().close();
  });
});

function spawnLogged(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (chunk) => process.stderr.write(chunk));
  return child;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Until something accepts connections on `port` (bounded, like Playwright's webServer wait). */
async function reachable(port: number) {
  await expect.poll(() => new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
    socket.on('error', () => resolve(false));
  }), { timeout: 20_000 }).toBe(true);
}

/** Until `base`/healthz answers 200 (bounded). */
async function healthy(base: string) {
  await expect.poll(async () => {
    try {
      return (await fetch(`${base}/healthz`)).status;
    } catch {
      return 0;
    }
  }, { timeout: 30_000 }).toBe(200);
}
