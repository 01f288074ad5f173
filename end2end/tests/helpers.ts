import { expect, type Page, type TestInfo } from '@playwright/test';

export const hydrated = (info: TestInfo) => info.project.name === 'hydrated';

/**
 * Opens the page; when JavaScript is on, waits until the wasm bundle has hydrated it.
 *
 * Chromium has the Digital Credentials API, and with no credential provider its
 * `navigator.credentials.get({digital})` never settles: unless a test brings a wallet
 * (`wallet: true`, with end2end/support/virtual-wallet.js), the API is hidden, so the
 * form goes straight to the operator as in a browser without it.
 */
export async function openPage(page: Page, info: TestInfo, path = '/', opts: { wallet?: boolean } = {}) {
  if (!opts.wallet) {
    await page.addInitScript(() => {
      Object.defineProperty(window, 'DigitalCredential', { value: undefined, configurable: true });
    });
  }
  await page.goto(path);
  if (hydrated(info)) {
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  } else {
    await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  }
}
