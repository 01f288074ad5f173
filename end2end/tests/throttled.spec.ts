import { test, expect, type Page, type CDPSession } from '@playwright/test';
import { hydrated } from './helpers';

// Mobile data at its worst: 400 kbit/s each way and a 400 ms round trip, as Chromium's
// DevTools protocol emulates it. Figures are printed, never asserted: the README carries
// them (scripts/bench.sh runs this file against the release build).
const SLOW = { offline: false, latency: 400, downloadThroughput: 400_000 / 8, uploadThroughput: 400_000 / 8 };

async function throttle(page: Page): Promise<CDPSession> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', SLOW);
  return cdp;
}

test.describe('on 400 kbit/s with a 400 ms round trip', () => {
  // A debug wasm takes its time at 50 KB/s; the release one is what the figures describe.
  test.setTimeout(120_000);

  test('the form is usable while the wasm is still on its way, and hydration follows', async ({ page }, info) => {
    await throttle(page);
    // Hold the wasm back until the form has been used: "before hydration" by construction,
    // not by a race with the download.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route(/\.wasm$/, async (route) => {
      await held;
      await route.continue();
    });

    await page.goto('/', { waitUntil: 'commit' });
    const field = page.getByLabel('Phone number');
    await field.fill('+44 7700 900123');
    await expect(field).toHaveValue('+44 7700 900123');
    await expect(page.getByRole('button', { name: 'Verify' })).toBeEnabled();
    await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
    // Server-rendered: no live validation yet.
    await expect(page.locator('#phone-status')).toBeEmpty();

    release();
    if (hydrated(info)) {
      await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 100_000 });
      // The island took over the form with what had been typed before it arrived.
      await expect(page.locator('#phone-status')).toHaveText('Will verify +447700900123');
    }
    // Either way the form works: the verification goes through the operator and back.
    await page.getByLabel('Mobile Connect').check();
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect(page.locator('#result')).toHaveText('+447700900123: invalid!', { timeout: 100_000 });
  });

  test('figures: bytes on the wire, time until the form is usable and until hydrated', async ({ page }, info) => {
    test.skip(!hydrated(info), 'hydration needs JavaScript');
    const cdp = await throttle(page);
    let bytes = 0;
    cdp.on('Network.loadingFinished', (event) => (bytes += event.encodedDataLength));

    const started = Date.now();
    await page.goto('/', { waitUntil: 'commit' });
    await expect(page.getByLabel('Phone number')).toBeEditable();
    const usable = Date.now() - started;
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 100_000 });
    const hydratedAt = Date.now() - started;
    // Whatever is still in flight (the favicon) counts too.
    await page.waitForLoadState('networkidle');

    const line = `THROTTLED usable_ms=${usable} hydrated_ms=${hydratedAt} first_load_bytes=${bytes}`;
    console.log(line);
    info.annotations.push({ type: 'figures', description: line });
    expect(usable).toBeLessThanOrEqual(hydratedAt);
  });
});
