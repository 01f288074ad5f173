import * as path from 'node:path';
import { test, expect, type Page } from '@playwright/test';
import { hydrated, openPage } from './helpers';

// The phone-number credential (TS.43 over the Digital Credentials API): the form asks the
// phone's wallet first, which needs no mobile data. The virtual wallet stands in for
// Android's provider; it answers for the simulated SIM.
const WALLET = path.join(__dirname, '..', 'support', 'virtual-wallet.js');

async function verify(page: Page, number: string) {
  await page.getByLabel('Phone number').fill(number);
  await page.getByRole('button', { name: 'Verify' }).click();
}

test.describe('the phone-number credential', () => {
  test.beforeEach(({}, info) => {
    test.skip(!hydrated(info), 'the credential is asked for by the page script');
  });

  test('on Wi-Fi, the wallet verifies the SIM\'s number and not another', async ({ page }, info) => {
    await page.addInitScript({ path: WALLET });
    await openPage(page, info, '/', { wallet: true });
    await page.getByRole('button', { name: 'Simulate Wi-Fi' }).click();
    await expect(page.locator('#sim-status')).toContainText('on Wi-Fi');
    await openPage(page, info, '/', { wallet: true });
    await verify(page, '+99012345678');
    await expect(page.locator('#result')).toHaveText('+99012345678: verified!');
    await expect(page.locator('#sandbox-note')).toHaveText(/^Test result from the virtual operator/);
    await openPage(page, info, '/', { wallet: true });
    await verify(page, '+99012345677');
    await expect(page.locator('#result')).toHaveText('+99012345677: invalid!');
  });

  test('with no wallet answering, the person can go to the operator instead', async ({ page }, info) => {
    // A browser with the API and no provider: the call never settles (only the page's
    // abort ends it), as Chromium's does on a machine with no credential provider.
    await page.addInitScript(() => {
      if (typeof window.DigitalCredential !== 'function') {
        Object.defineProperty(window, 'DigitalCredential', { value: class {}, configurable: true });
      }
      const never = (options?: { signal?: AbortSignal }) =>
        new Promise((_, reject) => {
          options?.signal?.addEventListener('abort', () => reject(new DOMException('Aborted.', 'AbortError')));
        });
      Object.defineProperty(navigator.credentials, 'get', { value: never, configurable: true });
    });
    await openPage(page, info, '/', { wallet: true });
    await verify(page, '+99012345678');
    await expect(page.locator('p.progress')).toHaveText('Asking your phone for its number credential…');
    await page.getByRole('button', { name: 'Use my operator instead' }).click();
    // The operator's redirect (the default SIM, on mobile data) verifies it.
    await expect(page.locator('#result')).toHaveText('+99012345678: verified!');
  });
});
