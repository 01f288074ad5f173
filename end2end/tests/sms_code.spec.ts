import { test, expect, type Page, type TestInfo } from '@playwright/test';
import { hydrated, openPage } from './helpers';

// The one-time code by SMS: a page verification that failed for a reason a code can help
// with (here the Simulated SIM on Wi-Fi: the operator answers access_denied) offers a
// code; the code view sends it, takes it back, refuses wrong and early requests. With
// the virtual operator the "SMS" lands in its inbox, which the code view lists as the
// simulated SIM's text messages: the tests read the code from there, as a person reads
// their phone. The result and the code view are plain HTML forms (no island): the same
// with JavaScript on and off.
//
// Each test gets its own browser context (Playwright's `page` fixture), so its own
// session cookie: a ticket answers only the browser that started the verification.

/**
 * The number each test sends its codes to, per project. A number's inbox and its daily
 * count of codes (SMS_PER_NUMBER_PER_DAY, 5 by default) are shared by everyone sending to
 * it, and the two projects run side by side: one number per test and project keeps
 * "the inbox shows one message" true and the day's count low. All end in 78, so all are
 * shown as +990••••••78. On Wi-Fi the operator refuses any number, so none needs to be
 * the SIM's.
 */
const NUMBERS = {
  hydrated: { verifies: '+99012345678', tooMany: '+99012340178', tooSoon: '+99012340278' },
  'no-js': { verifies: '+99012345578', tooMany: '+99012340378', tooSoon: '+99012340478' },
} as const;

const numbers = (info: TestInfo) => NUMBERS[hydrated(info) ? 'hydrated' : 'no-js'];

const SENT = 'We sent a 6-digit code by SMS to +990••••••78. It expires in 5 minutes.';

/** Types the number and presses Verify (Mobile Connect, the default protocol). */
async function verify(page: Page, number: string) {
  await page.getByLabel('Phone number').fill(number);
  await page.getByRole('button', { name: 'Verify' }).click();
}

/** Puts the Simulated SIM on Wi-Fi, then verifies `number`: the result is an error that
 * offers a code by SMS. */
async function failOnWifi(page: Page, info: TestInfo, number: string) {
  await openPage(page, info);
  await page.getByRole('button', { name: 'Simulate Wi-Fi' }).click();
  await expect(page.locator('#sim-status')).toContainText('on Wi-Fi');
  await openPage(page, info);
  await verify(page, number);
  await expect(page).toHaveURL(/\/\?result=/);
  await expect(page.locator('#result')).toContainText('Error validating phone number.');
  await expect(page.locator('#result')).toContainText('mobile data');
}

/** Presses "Send me a code by SMS" on the failed result: the code view, one code sent. */
async function askForCode(page: Page) {
  const offer = page.locator('#sms-offer');
  await expect(offer).toHaveAttribute('method', 'post');
  await expect(offer).toHaveAttribute('action', '/code/send');
  await expect(offer.locator('input[type="hidden"][name="ticket"]')).toHaveCount(1);
  await offer.getByRole('button', { name: 'Send me a code by SMS' }).click();
  await expect(page).toHaveURL(/\/\?sms=[^&]+$/);
  await expect(page.locator('#code-sent')).toHaveText(SENT);
}

/** The newest text message in the simulated SIM's inbox, and the code it carries. */
async function newestCode(page: Page): Promise<{ text: string; code: string }> {
  const messages = page.locator('#sms-inbox ol.sms-messages li');
  await expect(messages.last().locator('pre')).toHaveText(/^Your Number Verify code is \d{6}\./);
  const text = (await messages.last().locator('pre').textContent()) ?? '';
  const code = /^Your Number Verify code is (\d{6})\./.exec(text)![1];
  return { text, code };
}

/** A six-digit code that is surely not `code`: its last digit moved by one. */
const wrongFor = (code: string) => code.slice(0, 5) + String((Number(code[5]) + 1) % 10);

/** Types `code` into the code view and presses Verify. */
async function typeCode(page: Page, code: string) {
  await page.getByLabel('Code').fill(code);
  await page.locator('#code-form').getByRole('button', { name: 'Verify' }).click();
}

test('on Wi-Fi, a code by SMS verifies the number', async ({ page }, info) => {
  const number = numbers(info).verifies;
  await failOnWifi(page, info, number);
  await askForCode(page);

  // The field phones fill in from the SMS.
  const field = page.locator('#code');
  await expect(field).toHaveAttribute('autocomplete', 'one-time-code');
  await expect(field).toHaveAttribute('inputmode', 'numeric');
  await expect(field).toHaveAttribute('pattern', '[0-9]{6}');
  await expect(page.locator('#code-form input[type="hidden"][name="ticket"]')).toHaveCount(1);
  await expect(page.locator('#resend-hint')).toHaveText(/^You can ask for a new code in \d+ seconds\.$/);

  // One message, its last line the WebOTP line binding the code to this page's host.
  const inbox = page.locator('#sms-inbox');
  await expect(inbox.getByRole('heading')).toHaveText('Simulated SIM: text messages');
  await expect(inbox.locator('ol.sms-messages li')).toHaveCount(1);
  const { text, code } = await newestCode(page);
  const host = new URL(page.url()).hostname;
  expect(text).toBe(`Your Number Verify code is ${code}. It expires in 5 minutes.\n\n@${host} #${code}`);
  expect(text.split('\n').at(-1)).toMatch(/^@\S+ #\d{6}$/);

  // The page lists what the virtual operator's gateway holds for the number.
  const answer = await page.request.get(`/sandbox/sms/messages?to=${encodeURIComponent(number)}`);
  expect(answer.ok()).toBe(true);
  const held: { to: string; text: string; at: unknown }[] = await answer.json();
  expect(held.map((m) => m.text)).toEqual([text]);

  // A wrong code is refused, with the attempts left; the form stays.
  await typeCode(page, wrongFor(code));
  await expect(page).toHaveURL(/\/\?sms=.+&note=wrong_code/);
  await expect(page.locator('#code-note')).toHaveText('That code is not right. 4 attempts left.');
  await expect(page.locator('#code-note')).toHaveAttribute('role', 'alert');
  await expect(page.locator('#code-form')).toBeVisible();

  // The code from the inbox verifies the number, and the result says how.
  await typeCode(page, code);
  await expect(page).toHaveURL(/\/\?result=/);
  await expect(page.locator('#result')).toHaveText(`${number}: verified!`);
  await expect(page.locator('#proof')).toHaveText('Verified by SMS code: the code sent to this number was typed back.');
  await expect(page.locator('#sandbox-note')).toHaveText(/^Test result from the virtual operator/);
  await expect(page.locator('#sms-offer')).toHaveCount(0);
});

test('a number that is not the SIM\'s is never offered a code', async ({ page }, info) => {
  // On mobile data: the operator answers, and its "no" is a verdict, not a failure.
  await openPage(page, info);
  await verify(page, '+99012345677');
  await expect(page.locator('#result')).toHaveText('+99012345677: invalid!');
  await expect(page.locator('#sandbox-note')).toHaveText(/^Test result from the virtual operator/);
  await expect(page.locator('#sms-offer')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Send me a code by SMS' })).toHaveCount(0);
});

test('five wrong codes end the attempt', async ({ page }, info) => {
  await failOnWifi(page, info, numbers(info).tooMany);
  await askForCode(page);
  const wrong = wrongFor((await newestCode(page)).code);
  for (let left = 4; left >= 1; left--) {
    await typeCode(page, wrong);
    await expect(page.locator('#code-note')).toHaveText(
      `That code is not right. ${left} ${left === 1 ? 'attempt' : 'attempts'} left.`,
    );
  }
  await typeCode(page, wrong);
  await expect(page.locator('#code-note')).toHaveText('Too many attempts — start again.');
  await expect(page.locator('#code-form')).toHaveCount(0);
  await expect(page.locator('#code-resend')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Start again' })).toBeVisible();
});

test('a new code asked for at once is refused until the wait is over', async ({ page }, info) => {
  await failOnWifi(page, info, numbers(info).tooSoon);
  await askForCode(page);
  await expect(page.locator('#resend-hint')).toHaveText(/^You can ask for a new code in \d+ seconds\.$/);
  await page.locator('#code-resend').getByRole('button', { name: 'Send a new code' }).click();
  await expect(page).toHaveURL(/\/\?sms=.+&note=too_soon/);
  await expect(page.locator('#code-note')).toHaveText(/^Please wait \d+ seconds before asking for a new code\.$/);
  const wait = Number(/(\d+) seconds/.exec((await page.locator('#code-note').textContent()) ?? '')![1]);
  expect(wait).toBeGreaterThanOrEqual(1);
  expect(wait).toBeLessThanOrEqual(30);
  // Nothing was sent: still one message, and the code form is still there.
  await expect(page.locator('#sms-inbox ol.sms-messages li')).toHaveCount(1);
  await expect(page.locator('#code-form')).toBeVisible();
});
