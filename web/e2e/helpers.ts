// Shared by the e2e specs written after studio.spec.ts: screenshots, the console-error guard
// (any console error or page error fails the test, except those a test expects), the form.
import { expect, test, type Page } from '@playwright/test';
import path from 'node:path';
import { WEB_DIR } from './easel_server';

export const SHOTS = process.env.WEB_SCREENSHOTS ?? path.join(WEB_DIR, 'screenshots');
export const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
export const base = () => process.env.EASEL_E2E_URL!;
export const api = () => process.env.EASEL_E2E_API!;

// Installs the guard for the file's tests; `allow` lists console messages a test expects
// (e.g. the browser's own "401" line for a refused request).
export function guardConsole(allow: RegExp[] = []) {
  let errors: string[] = [];
  test.beforeEach(async ({ page }) => {
    errors = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && !allow.some((r) => r.test(m.text()))) errors.push(`console: ${m.text()} @ ${m.location().url}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    await page.addInitScript(() => {
      if (!localStorage.getItem('easel.theme')) localStorage.setItem('easel.theme', 'dark');
    });
  });
  test.afterEach(async () => {
    expect(errors, 'console errors').toEqual([]);
  });
}

export async function fillTxt2img(page: Page, prompt: string, steps = 2, side = 64) {
  await page.getByLabel('Prompt', { exact: true }).fill(prompt);
  await page.getByTestId('steps').fill(String(steps));
  await page.getByTestId('width').fill(String(side));
  await page.getByTestId('height').fill(String(side));
}

export const resultImage = (page: Page) => page.locator('#view-generate [data-testid=result-images] img[alt^="Result"]');
