import { expect, type Page, type TestInfo } from '@playwright/test';

export const hydrated = (info: TestInfo) => info.project.name === 'hydrated';

/** Opens the page; when JavaScript is on, waits until the wasm bundle has hydrated it. */
export async function openPage(page: Page, info: TestInfo, path = '/') {
  await page.goto(path);
  if (hydrated(info)) {
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  } else {
    await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  }
}
