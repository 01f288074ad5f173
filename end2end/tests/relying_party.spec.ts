import { test, expect } from '@playwright/test';
import { BASE_URL } from '../playwright.config';

// The OpenID Provider's hosted page, as a person sent by a relying party sees it: the
// sandbox's demo client (nv-demo-rp) asks to confirm a number, the person presses
// Verify, and the browser lands on the client's loopback redirect URI with a code.
// Nothing listens there: the test answers that address itself.
const RP_REDIRECT = 'http://127.0.0.1:3199/cb';

function authorizeUrl(hint: string): string {
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: 'nv-demo-rp',
    redirect_uri: RP_REDIRECT,
    scope: 'openid phone',
    state: 'st4te-e2e',
    nonce: 'n0nce-e2e',
    login_hint: `tel:${hint}`,
  });
  return `${BASE_URL}/authorize?${params}`;
}

test('the hosted page names the client and the number, and returns to the client', async ({ page }) => {
  await page.route(`${RP_REDIRECT}**`, (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: '<p id="rp">back at the relying party</p>' }),
  );
  await page.goto(authorizeUrl('+99012345678'));
  await expect(page.getByTestId('ask')).toHaveText(
    'Number Verify demo app wants to confirm that this phone has number +99012345678.',
  );
  await expect(page.getByLabel('Phone number')).toHaveValue('+99012345678');
  await expect(page.getByRole('button', { name: 'Verify' })).toHaveCount(1);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(/^http:\/\/127\.0\.0\.1:3199\/cb\?/);
  const back = new URL(page.url());
  expect(back.searchParams.get('code')).toBeTruthy();
  expect(back.searchParams.get('state')).toBe('st4te-e2e');
  expect(back.searchParams.get('iss')).toBe(BASE_URL);
  await expect(page.locator('#rp')).toHaveText('back at the relying party');
});

test('an unregistered redirect URI is a page of its own, never a redirect', async ({ page }) => {
  const url = authorizeUrl('+99012345678').replace(encodeURIComponent(RP_REDIRECT), encodeURIComponent('https://evil.example/cb'));
  const response = await page.goto(url);
  expect(response?.status()).toBe(400);
  await expect(page.getByRole('heading', { name: 'This sign-in link does not work' })).toBeVisible();
});
