import { test, expect, type Page } from '@playwright/test';
import { openPage } from './helpers';

/** Types the number, picks the protocol and presses Verify, as a person would. */
type Protocol = 'Mobile Connect' | 'CAMARA' | 'CAMARA (standard)';

async function verify(page: Page, number: string, protocol: Protocol = 'Mobile Connect') {
  await page.getByLabel('Phone number').fill(number);
  // Exact: "CAMARA" is also a part of "CAMARA (standard)".
  await page.getByLabel(protocol, { exact: true }).check();
  await page.getByRole('button', { name: 'Verify' }).click();
}

// "CAMARA" is the Vonage profile (the default CAMARA_PROFILE); "CAMARA (standard)" is
// CAMARA v2.1 against the virtual operator's OIDC discovery, PKCE and private_key_jwt.
for (const protocol of ['Mobile Connect', 'CAMARA', 'CAMARA (standard)'] as const) {
  test.describe(protocol, () => {
    test('the default SIM verifies +99012345678', async ({ page }, info) => {
      await openPage(page, info);
      await verify(page, '+990 1234 5678', protocol);
      await expect(page.locator('#result')).toHaveText('+99012345678: verified!');
      await expect(page).toHaveURL(/\/\?result=/);
      // The virtual operator's verdict is never taken for a real one.
      await expect(page.locator('#sandbox-note')).toHaveText(/^Test result from the virtual operator/);
      // The result is focused, and "Verify another number" starts over.
      await expect(page.locator('#result')).toBeFocused();
      await page.getByRole('link', { name: 'Verify another number' }).click();
      await expect(page.getByLabel('Phone number')).toBeVisible();
    });

    test('+99012345677 is not this SIM', async ({ page }, info) => {
      await openPage(page, info);
      await verify(page, '+99012345677', protocol);
      await expect(page.locator('#result')).toHaveText('+99012345677: invalid!');
      await expect(page.locator('#sandbox-note')).toHaveText(/^Test result from the virtual operator/);
    });

    test('Wi-Fi simulated in the control asks for mobile data', async ({ page }, info) => {
      await openPage(page, info);
      await page.getByRole('button', { name: 'Simulate Wi-Fi' }).click();
      await expect(page.locator('#sim-status')).toContainText('on Wi-Fi');
      await openPage(page, info);
      await verify(page, '+99012345678', protocol);
      await expect(page.locator('#result')).toContainText('Error validating phone number.');
      await expect(page.locator('#result')).toContainText('mobile data');
    });

    test('an operator outage shows its own error', async ({ page, context, baseURL }, info) => {
      await context.addCookies([{ name: 'sandbox_fault', value: 'unavailable', url: baseURL! }]);
      await openPage(page, info);
      await verify(page, '+99012345678', protocol);
      await expect(page.locator('#result')).toHaveText(/^Error validating phone number\. .*temporarily unavailable/);
    });

    test('a SIM chosen in the Simulated SIM control verifies its number', async ({ page }, info) => {
      await openPage(page, info);
      await page.getByLabel('Simulated SIM').fill('+44 7700 900123');
      await page.getByRole('button', { name: 'Use this SIM' }).click();
      await expect(page.locator('#sim-status')).toContainText('+447700900123 (chosen here)');
      await openPage(page, info);
      await verify(page, '+447700900123', protocol);
      await expect(page.locator('#result')).toHaveText('+447700900123: verified!');
      // Clearing it brings back the default SIM.
      await page.getByRole('link', { name: 'Verify another number' }).click();
      await page.getByRole('button', { name: 'Clear simulated SIM' }).click();
      await expect(page.locator('#sim-status')).toContainText('+99012345678 (the default)');
    });
  });
}

for (const protocol of ['CAMARA', 'CAMARA (standard)'] as const) {
  test(`${protocol}: an operator failure for +99011111199`, async ({ page }, info) => {
    await openPage(page, info);
    await verify(page, '+99011111199', protocol);
    await expect(page.locator('#result')).toHaveText(/^Error validating phone number\. Your operator could not check this number/);
  });
}

test('a number without country code is refused before any operator is asked', async ({ page }, info) => {
  await openPage(page, info);
  await verify(page, '07700 900123');
  await expect(page.getByRole('alert')).toContainText('Error validating phone number.');
  await expect(page.getByRole('alert')).toContainText('country code');
  await expect(page).not.toHaveURL(/sandbox/);
});

test('a forged callback lands on the page with a clear error', async ({ page }) => {
  await page.goto('/callback?code=abc&state=forged');
  await expect(page.locator('#result')).toHaveText(/^Error validating phone number\. This verification is unknown/);
});

test('the whole flow works on a phone-sized screen', async ({ page }, info) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await openPage(page, info);
  await verify(page, '+99012345678', 'CAMARA');
  await expect(page.locator('#result')).toHaveText('+99012345678: verified!');
  const box = await page.locator('#result').boundingBox();
  expect(box!.x + box!.width).toBeLessThanOrEqual(360);
});

test('a browser that reports Wi-Fi is asked for mobile data before starting', async ({ page }, info) => {
  test.skip(info.project.name !== 'hydrated', 'the Network Information API is read by the hydrated page');
  await page.addInitScript(() => {
    Object.defineProperty(navigator, 'connection', { value: { type: 'wifi' }, configurable: true });
  });
  await openPage(page, info);
  await expect(page.getByRole('note')).toContainText('Switch to mobile data');
});

test('a browser on mobile data gets no Wi-Fi hint', async ({ page }, info) => {
  await page.addInitScript(() => {
    Object.defineProperty(navigator, 'connection', { value: { type: 'cellular' }, configurable: true });
  });
  await openPage(page, info);
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(page.getByRole('note')).toHaveCount(0);
});

test('the page shows progress until the browser leaves for the operator', async ({ page }, info) => {
  test.skip(info.project.name !== 'hydrated', 'without JavaScript the browser itself shows progress');
  // Hold the start request until the progress line has been seen, then let it through.
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/api/start', async (route) => {
    await held;
    await route.continue();
  });
  await openPage(page, info);
  await page.getByLabel('Phone number').fill('+99012345678');
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByRole('status')).toHaveText('Contacting your operator…');
  await expect(page.getByRole('button', { name: 'Verify' })).toBeDisabled();
  release();
  await expect(page.locator('#result')).toHaveText('+99012345678: verified!');
});

test('reloading or going back never re-runs the exchange', async ({ page }, info) => {
  await openPage(page, info);
  await verify(page, '+99012345678');
  await expect(page.locator('#result')).toHaveText('+99012345678: verified!');
  const resultUrl = page.url();
  const callbacks: string[] = [];
  page.on('request', (r) => { if (r.url().includes('/callback')) callbacks.push(r.url()); });
  await page.reload();
  await expect(page.locator('#result')).toHaveText('+99012345678: verified!');
  await page.goBack();
  await expect(page.getByLabel('Phone number')).toBeVisible();
  await page.goForward();
  await expect(page).toHaveURL(resultUrl);
  await expect(page.locator('#result')).toHaveText('+99012345678: verified!');
  expect(callbacks).toEqual([]);
});
