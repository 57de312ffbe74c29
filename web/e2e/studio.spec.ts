// The studio end to end, in headless chromium against a real `easel serve` with the tiny SD1
// fixture (64x64, 2 steps): generate -> progress -> gallery -> search -> reuse parameters;
// inpaint a painted region; cancel a running job. Every view is photographed into
// web/screenshots/ (the README shows them). Any console error or page error fails the test.
import { expect, test, type Page } from '@playwright/test';
import path from 'node:path';
import { WEB_DIR } from './easel_server';
import { encodePng } from './png';

test.describe.configure({ mode: 'serial' });

// WEB_SCREENSHOTS=DIR writes them elsewhere (e.g. in CI, to leave the committed ones alone).
const SHOTS = process.env.WEB_SCREENSHOTS ?? path.join(WEB_DIR, 'screenshots');
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
const base = () => process.env.EASEL_E2E_URL!;
const api = () => process.env.EASEL_E2E_API!;

let errors: string[] = [];
const CANCEL_STEPS = 500; // the engine's most; the harness starts the server with --max-steps 500
const STEP_RE = new RegExp(`step \\d+ / ${CANCEL_STEPS}`);

test.beforeEach(async ({ page }) => {
  errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()} @ ${m.location().url}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  // A fixed theme, so the screenshots do not depend on the machine's preference.
  await page.addInitScript(() => {
    if (!localStorage.getItem('easel.theme')) localStorage.setItem('easel.theme', 'dark');
  });
});

test.afterEach(async () => {
  expect(errors, 'console errors').toEqual([]);
});

async function fillTxt2img(page: Page, prompt: string, steps = 2, side = 64) {
  await page.getByLabel('Prompt', { exact: true }).fill(prompt);
  await page.getByLabel('Negative prompt').fill('blurry, (low quality:1.3)');
  await page.getByTestId('steps').fill(String(steps));
  await page.getByTestId('width').fill(String(side));
  await page.getByTestId('height').fill(String(side));
}

const resultImage = (page: Page) => page.locator('#view-generate [data-testid=result-images] img[alt^="Result"]');

test('generate, see progress, find it in the gallery, reuse its parameters', async ({ page }) => {
  await page.goto(base());
  await expect(page.getByRole('tab', { name: 'Generate' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('model-select')).toContainText('sd1');
  await fillTxt2img(page, 'a tiny (red lighthouse:1.2) on a cliff, e2e_marker <lora:tiny_style:0.6>');
  await expect(page.getByTestId('prompt-highlight').locator('.tok-lora')).toHaveText('<lora:tiny_style:0.6>');
  await page.getByTestId('sampler-select').selectOption('euler');
  // A fixed seed: the same picture on every run (stable screenshots), and reuse must bring it back.
  await page.getByLabel('Fixed').check();
  await page.getByTestId('seed').fill('1234');
  await page.getByLabel('Prompt', { exact: true }).press('Control+Enter');
  await expect(page.locator('#view-generate [data-testid=progress]')).toBeVisible();
  await expect(resultImage(page)).toHaveCount(1, { timeout: 120_000 });
  await expect(page.locator('#view-generate [data-testid=progress]')).toContainText('succeeded');
  await shot(page, 'generate');
  // Change the form, so that reusing the parameters later visibly restores them.
  await page.getByLabel('Prompt', { exact: true }).fill('something else');
  await page.getByTestId('steps').fill('9');

  // Gallery: the image is there, search finds it, a miss finds nothing.
  await page.getByRole('tab', { name: 'Gallery' }).click();
  await expect(page.locator('#view-gallery [data-testid=thumb]').first()).toBeVisible();
  await page.getByTestId('gallery-search').fill('lighthouse');
  await expect(page.getByTestId('gallery-count')).toHaveText('1 image');
  await expect(page.locator('#view-gallery [data-testid=thumb]')).toHaveCount(1);
  await shot(page, 'gallery');
  await page.getByTestId('gallery-search').fill('zebra');
  await expect(page.getByText('No image matches.')).toBeVisible();
  await page.getByTestId('gallery-search').fill('lighthouse');
  await page.locator('#view-gallery [data-testid=thumb]').first().click();
  const viewer = page.getByTestId('image-viewer');
  await expect(viewer).toBeVisible();
  await expect(viewer).toContainText('euler');
  await shot(page, 'image-view');

  // Read a PNG's parameters (the same image, downloaded): png-info shows the prompt.
  const id = (await (await page.request.get(`${api()}/api/v1/images?q=lighthouse`)).json()).images[0].id;
  const bytes = await (await page.request.get(`${api()}/api/v1/images/${id}/file`)).body();
  await page.keyboard.press('Escape');
  await page.getByLabel('Read the parameters of a PNG').setInputFiles({ name: 'x.png', mimeType: 'image/png', buffer: bytes });
  await expect(page.getByTestId('pnginfo-text')).toContainText('e2e_marker');
  await expect(page.getByTestId('pnginfo-text')).toContainText('Steps: 2');
  await shot(page, 'png-info');
  await page.getByRole('button', { name: 'Close' }).click();
  await page.locator('#view-gallery [data-testid=thumb]').first().click();

  // Reuse: back on Generate with the prompt, a fixed seed and the same steps and size.
  await viewer.getByTestId('reuse').click();
  await expect(page.getByRole('tab', { name: 'Generate' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByLabel('Prompt', { exact: true })).toHaveValue(/red lighthouse:1\.2.*e2e_marker/);
  await expect(page.getByLabel('Prompt', { exact: true })).toHaveValue(/<lora:tiny_style:0\.6>/);
  await expect(page.getByTestId('steps')).toHaveValue('2');
  await expect(page.getByTestId('width')).toHaveValue('64');
  await expect(page.getByTestId('seed')).toHaveValue('1234');
  await expect(page.getByTestId('seed')).toBeEnabled();
});

test('inpaint a painted region', async ({ page }) => {
  await page.goto(base());
  await fillTxt2img(page, 'a blue door, inpaint_marker');
  await page.getByLabel('Fixed').check();
  await page.getByTestId('seed').fill('99');
  await page.getByText('Inpaint / outpaint').click();
  // A 64x64 gradient as the init image, through the drop zone's file picker.
  const png = encodePng(64, 64, (x, y) => [x * 4, y * 4, 128]);
  await page.locator('#view-generate input[type=file]').setInputFiles({ name: 'init.png', mimeType: 'image/png', buffer: png });
  const canvas = page.getByTestId('mask-canvas');
  await expect(canvas).toBeVisible();
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.5, { steps: 8 });
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.7, { steps: 8 });
  await page.mouse.up();
  await page.getByLabel('Mask preview').check();
  await expect(page.getByAltText('Mask preview (white is repainted)')).toBeVisible();
  await shot(page, 'inpaint');
  await page.getByLabel('Mask preview').uncheck();
  await page.getByTestId('generate').click();
  await expect(resultImage(page)).toHaveCount(1, { timeout: 120_000 });
  // The job went to the server as an inpaint job with a mask.
  const jobs = await (await page.request.get(`${api()}/api/v1/jobs?limit=1`)).json();
  expect(jobs.jobs[0].kind).toBe('inpaint');
  expect(jobs.jobs[0].state).toBe('succeeded');
});

test('cancel a running job, and the queue survives a reload', async ({ page }) => {
  await page.goto(base());
  await page.getByText('Text to image').click();
  // The fixture model is tiny: many steps at 192x192 keep it busy long enough to reload and cancel.
  await fillTxt2img(page, 'a long job to cancel', CANCEL_STEPS, 192);
  await page.getByTestId('generate').click();
  const progress = page.locator('#view-generate [data-testid=progress]');
  await expect(progress).toContainText(STEP_RE, { timeout: 120_000 });
  // Reload: the running job is still shown, in Generate and in the Queue.
  await page.reload();
  await expect(progress).toContainText(STEP_RE);
  await page.getByRole('tab', { name: 'Queue' }).click();
  await expect(page.locator('#view-queue [data-testid=job-row].state-running')).toHaveCount(1);
  await expect(page.locator('#view-queue [data-testid=job-row].state-running [data-testid=progress]')).toContainText(`/ ${CANCEL_STEPS}`);
  await shot(page, 'queue');
  await page.getByRole('tab', { name: 'Generate' }).click();
  await page.keyboard.press('Escape');
  await expect(page.locator('#view-generate').getByText('Cancelled.')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('cancel')).toHaveCount(0);
});

test('models view, light theme, tablet size and keyboard navigation in the gallery', async ({ page }) => {
  await page.goto(`${base()}/#/models`);
  await expect(page.getByTestId('model-card').first()).toContainText('sd1');
  await expect(page.getByRole('heading', { name: 'tiny_style' })).toBeVisible();
  await shot(page, 'models');

  await page.getByRole('button', { name: /Switch to light theme/ }).click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  // Light theme: a finished job opened from the Queue, a prompt with a LoRA slider.
  await page.getByRole('tab', { name: 'Queue' }).click();
  await page.locator('#view-queue [data-testid=job-row].state-succeeded').filter({ hasText: 'e2e_marker' }).getByRole('button', { name: /Show job/ }).click();
  await expect(page.getByRole('tab', { name: 'Generate' })).toHaveAttribute('aria-selected', 'true');
  await expect(resultImage(page)).toHaveCount(1);
  await page.getByLabel('Prompt', { exact: true }).fill('a lighthouse at dusk, (dramatic sky:1.3), [fog] BREAK film grain');
  await page.getByLabel('Add a LoRA').selectOption('tiny_style');
  await expect(page.getByLabel('Weight of tiny_style')).toBeVisible();
  await shot(page, 'generate-light');

  await page.setViewportSize({ width: 820, height: 1180 }); // a tablet, portrait
  await page.getByRole('tab', { name: 'Gallery' }).click();
  await page.getByTestId('gallery-search').fill('');
  await expect(page.locator('#view-gallery [data-testid=thumb]')).toHaveCount(2);
  await page.locator('#view-gallery [data-testid=thumb]').first().click();
  const viewer = page.getByTestId('image-viewer');
  const first = await viewer.locator('table').innerText();
  await page.keyboard.press('ArrowRight');
  await expect.poll(() => viewer.locator('table').innerText()).not.toBe(first);
  await page.keyboard.press('ArrowLeft');
  await expect.poll(() => viewer.locator('table').innerText()).toBe(first);
  await shot(page, 'tablet-image-view');
  await page.keyboard.press('Escape');
  await expect(viewer).toHaveCount(0);
  await page.getByRole('tab', { name: 'Generate' }).click();
  await shot(page, 'tablet-generate');
});
