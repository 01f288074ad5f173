import { test, expect } from '@playwright/test';
import { hydrated, openPage } from './helpers';

// The page's Content-Security-Policy must not cost it anything: hydration, live
// validation and the operator hop still work, and the browser reports no violation.
test('the page runs under its CSP without a single violation', async ({ page }, info) => {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) violations.push(message.text());
  });
  if (hydrated(info)) {
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) =>
        console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`),
      );
    });
  }
  const response = await page.goto('/');
  const policy = response!.headers()['content-security-policy'];
  expect(policy).toContain("frame-ancestors 'none'");
  // The browser hides nonces from the DOM: look in the HTML as sent.
  const nonce = /'nonce-([^']+)'/.exec(policy)![1];
  expect(await response!.text()).toContain(`nonce="${nonce}"`);

  await openPage(page, info);
  await page.getByLabel('Phone number').fill('+99012345678');
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByText('+99012345678: verified!')).toBeVisible();
  expect(violations).toEqual([]);
});
