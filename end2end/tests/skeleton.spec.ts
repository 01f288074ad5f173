import { test, expect } from '@playwright/test';
import { hydrated, openPage } from './helpers';

test('the page renders its heading, labelled field, button and consent notice', async ({ page }, info) => {
  await openPage(page, info);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Verify your phone number!');
  const field = page.getByLabel('Phone number');
  await expect(field).toHaveAttribute('type', 'tel');
  await expect(field).toHaveAttribute('autocomplete', 'tel');
  await expect(page.getByRole('button', { name: 'Verify' })).toBeVisible();
  await expect(page.getByText('operator will confirm whether this number belongs to the SIM')).toBeVisible();
});

test('a favicon is served', async ({ request }) => {
  const icon = await request.get('/favicon.ico');
  expect(icon.status()).toBe(200);
  expect(icon.headers()['content-type']).toContain('image/');
  expect((await icon.body()).length).toBeGreaterThan(100);
});

test('live validation runs only once hydrated', async ({ page }, info) => {
  await openPage(page, info);
  const field = page.getByLabel('Phone number');
  const status = page.locator('#phone-status');
  await expect(status).toHaveAttribute('aria-live', 'polite');

  await field.pressSequentially('07700 900123');
  if (hydrated(info)) {
    // Only the wasm bundle can produce these: the server rendered the field neutral.
    await expect(field).toHaveAttribute('aria-invalid', 'true');
    await expect(status).toContainText('country code');

    await field.fill('');
    await field.pressSequentially('+44 7700 900123');
    await expect(field).toHaveAttribute('aria-invalid', 'false');
    await expect(status).toHaveText('Will verify +447700900123');

    await field.fill('📱 ‏call me ' + 'x'.repeat(500));
    await expect(field).toHaveAttribute('aria-invalid', 'true');
    await expect(status).not.toBeEmpty();
  } else {
    await expect(field).not.toHaveAttribute('aria-invalid', 'true');
    await expect(status).toBeEmpty();
  }
});

for (const viewport of [{ width: 360, height: 740 }, { width: 390, height: 844 }]) {
  test(`no horizontal scroll at ${viewport.width}×${viewport.height}`, async ({ page }, info) => {
    await page.setViewportSize(viewport);
    await openPage(page, info);
    // Every element must sit inside the viewport's width.
    for (const locator of await page.locator('main *').all()) {
      const box = await locator.boundingBox();
      if (box) expect(box.x + box.width, await locator.evaluate((e) => e.outerHTML).catch(() => 'element')).toBeLessThanOrEqual(viewport.width + 0.5);
    }
    const button = await page.getByRole('button', { name: 'Verify' }).boundingBox();
    expect(button!.height).toBeGreaterThanOrEqual(44); // a thumb-sized target
  });
}
