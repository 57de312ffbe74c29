// API-key login end to end: its own `easel serve --api-key` (the shared one has none). Such a
// server refuses the page itself without the key, so the harness serves web/dist and forwards
// the APIs (headers included). The UI answers the first 401 with the key dialog; with the key
// it loads the models, follows the queue's stream (fetch with the header: EventSource cannot
// send one), and shows images fetched with the key.
import { expect, test } from '@playwright/test';
import { startEasel, type Running } from './easel_server';
import { fillTxt2img, guardConsole, resultImage, shot } from './helpers';

const KEY = 'e2e-key-0123456789';
let server: Running;

test.describe.configure({ mode: 'serial' });
// The browser logs each refused request ("401 (Unauthorized)") itself: expected here, before
// the key is entered.
guardConsole([/status of 401/, /EventSource's response has a status 401/]);

test.beforeAll(async () => {
  test.setTimeout(180_000);
  server = await startEasel({ apiKey: KEY });
});
test.afterAll(async () => {
  await server?.stop();
});

test('API key: the dialog on 401, then everything works with the key', async ({ page }) => {
  await page.goto(server.url);
  const dialog = page.getByRole('dialog', { name: 'API key needed' });
  await expect(dialog).toBeVisible();
  await shot(page, 'api-key');
  await dialog.getByLabel('API key').fill('wrong-key-000000');
  await dialog.getByRole('button', { name: 'Use this key' }).click();
  await expect(dialog).toContainText('refused the saved key');
  await dialog.getByLabel('API key').fill(KEY);
  await dialog.getByRole('button', { name: 'Use this key' }).click();
  await expect(dialog).toHaveCount(0);
  expect(await page.evaluate(() => localStorage.getItem('easel.apiKey'))).toBe(KEY);
  await expect(page.getByTestId('model-select')).toContainText('sd1');

  // A job: progress comes through the stream (read with the key), the image through a blob.
  await fillTxt2img(page, 'a keyed lighthouse');
  await page.getByTestId('generate').click();
  await expect(resultImage(page)).toHaveCount(1, { timeout: 120_000 });
  await expect(resultImage(page)).toHaveAttribute('src', /^blob:/);
  await expect.poll(() => resultImage(page).evaluate((i: HTMLImageElement) => i.naturalWidth)).toBe(64);
  await expect(page.locator('.statusbar .dot.ok')).toHaveCount(1);

  // A reload keeps the key: no dialog, the gallery shows the image.
  await page.reload();
  await page.getByRole('tab', { name: 'Gallery' }).click();
  await expect(page.locator('#view-gallery [data-testid=thumb] img')).toHaveAttribute('src', /^blob:/);
  await expect(page.getByRole('dialog', { name: 'API key needed' })).toHaveCount(0);
});
