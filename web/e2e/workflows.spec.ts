// More of the studio end to end, against the same real `easel serve` as studio.spec.ts (this
// file runs after it: names sort): build a preset and pick it in Generate; a hires-fix job;
// img2img from a dropped image; gallery filters answered by the server; delete from the
// gallery; model previews from the library. Screenshots of each go to web/screenshots/.
import { expect, test, type Page } from '@playwright/test';
import path from 'node:path';
import { api, base, fillTxt2img, guardConsole, resultImage, shot } from './helpers';
import { encodePng } from './png';

test.describe.configure({ mode: 'serial' });
guardConsole();

async function lastJob(page: Page) {
  return (await (await page.request.get(`${api()}/api/v1/jobs?limit=1`)).json()).jobs[0];
}

// The library learns the models folder first (presets name files by path; previews).
test.beforeAll(async ({ request }) => {
  const r = await request.post(`${api()}/api/v1/library/models/rescan`, { data: { paths: [process.env.EASEL_E2E_MODELS] } });
  expect(r.ok(), await r.text()).toBe(true);
});

test('preset editor: create a preset, see it in the picker, and it fills the form', async ({ page }) => {
  await page.goto(`${base()}/#/models`);
  await page.getByRole('button', { name: 'New preset' }).click();
  const editor = page.getByRole('form', { name: 'Preset editor' });
  await editor.getByLabel('Name').fill('e2e tiny preset');
  await editor.getByLabel('Description').fill('the fixture model, 3 steps at 64×64');
  await editor.getByLabel('Checkpoint (file or diffusers folder)').fill(path.join(process.env.EASEL_E2E_MODELS!, 'sd1'));
  await editor.getByLabel('Add a LoRA to the preset').selectOption('tiny_style');
  await editor.getByLabel('Width', { exact: true }).fill('64');
  await editor.getByLabel('Height', { exact: true }).fill('64');
  await editor.getByLabel('Steps', { exact: true }).fill('3');
  // The server validates as one types: family and predicted memory.
  await expect(page.getByTestId('preset-check')).toContainText('✓ valid', { timeout: 20_000 });
  await expect(page.getByTestId('preset-check')).toContainText('predicted');
  await page.getByTestId('preset-check').scrollIntoViewIfNeeded();
  await shot(page, 'preset-editor');
  await editor.getByRole('button', { name: 'Save preset' }).click();
  await expect(page.locator('ul.presets')).toContainText('e2e tiny preset');

  await page.getByRole('tab', { name: 'Generate' }).click();
  const picker = page.getByLabel('Preset', { exact: true });
  await expect(picker.locator('option', { hasText: 'e2e tiny preset' })).toHaveCount(1);
  await page.getByTestId('steps').fill('20');
  await picker.selectOption('e2e tiny preset');
  await expect(page.getByTestId('steps')).toHaveValue('3');
  await expect(page.getByTestId('width')).toHaveValue('64');
  await expect(page.getByLabel('Prompt', { exact: true })).toHaveValue(/<lora:tiny_style:1>/);
});

test('hires fix: a 64×64 first pass upscaled to 128×128', async ({ page }) => {
  await page.goto(base());
  await fillTxt2img(page, 'a small red boat, hires_marker <lora:tiny_style:0.5>');
  await page.getByLabel('Fixed').check();
  await page.getByTestId('seed').fill('7');
  await page.getByText('Hires fix').click();
  await page.getByLabel('Upscale and refine').check();
  await page.getByLabel('Second-pass steps (0 = same)').fill('1');
  await expect(page.getByText('Result: 128×128')).toBeVisible();
  await page.getByTestId('generate').click();
  await expect(resultImage(page)).toHaveCount(1, { timeout: 120_000 });
  await expect(page.locator('#view-generate [data-testid=result-images] .caption')).toContainText('128×128');
  await shot(page, 'hires');
  const job = await lastJob(page);
  expect(job.request.enable_hr).toBe(true);
  expect(job.request.hr_second_pass_steps).toBe(1);
});

test('img2img with a dropped image', async ({ page }) => {
  await page.goto(base());
  await page.getByText('Image to image').click();
  await fillTxt2img(page, 'a stone bridge, img2img_marker');
  const png = encodePng(64, 80, (x, y) => [255 - x * 3, y * 3, 90]);
  // A real drop: a DataTransfer holding the file, dropped on the drop zone.
  const dt = await page.evaluateHandle((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const t = new DataTransfer();
    t.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
    return t;
  }, png.toString('base64'));
  const zone = page.getByTestId('init-drop');
  await zone.dispatchEvent('dragover', { dataTransfer: dt });
  await zone.dispatchEvent('drop', { dataTransfer: dt });
  await expect(page.getByAltText('Init image')).toBeVisible();
  await expect(page.getByText('dropped.png')).toBeVisible();
  // The size follows the image (multiples of 8).
  await expect(page.getByTestId('width')).toHaveValue('64');
  await expect(page.getByTestId('height')).toHaveValue('80');
  await page.getByLabel('Denoising strength', { exact: true }).fill('0.6');
  await page.getByTestId('generate').click();
  await expect(resultImage(page)).toHaveCount(1, { timeout: 120_000 });
  await shot(page, 'img2img');
  const job = await lastJob(page);
  expect(job.kind).toBe('img2img');
  expect(job.request.denoising_strength).toBeCloseTo(0.6);
});

test('gallery filters go to the server: LoRA, exact size, date', async ({ page }) => {
  await page.goto(`${base()}/#/gallery`);
  await expect(page.locator('#view-gallery [data-testid=thumb]').first()).toBeVisible();
  const count = async (q: string) => (await (await page.request.get(`${api()}/api/v1/images?${q}`)).json()).total as number;
  const shown = () => page.getByTestId('gallery-count');

  const loraReq = page.waitForRequest((r) => r.url().includes('/api/v1/images') && r.url().includes('lora=tiny_style'));
  await page.getByLabel('Filter by LoRA').selectOption('tiny_style');
  await loraReq;
  const withLora = await count('lora=tiny_style');
  expect(withLora).toBeGreaterThan(0);
  await expect(shown()).toHaveText(`${withLora} image${withLora === 1 ? '' : 's'}`);
  await expect(page.getByTestId('filter-note')).toHaveCount(0); // the server filtered
  await page.getByLabel('Filter by LoRA').selectOption('');

  const sizeReq = page.waitForRequest((r) => r.url().includes('width=128') && r.url().includes('height=128'));
  await page.getByTestId('filter-size').selectOption('128x128');
  await sizeReq;
  const big = await count('width=128&height=128');
  expect(big).toBeGreaterThan(0);
  await expect(shown()).toHaveText(`${big} image${big === 1 ? '' : 's'}`);
  await expect(page.locator('#view-gallery [data-testid=thumb]')).toHaveCount(big);
  await shot(page, 'gallery-filters');
  await page.getByTestId('filter-size').selectOption('');

  // Between dates: a range in the past finds nothing; today finds everything.
  await page.getByTestId('filter-date').selectOption('range');
  await page.getByLabel('From date').fill('2001-01-01');
  await page.getByLabel('To date').fill('2001-12-31');
  await expect(page.getByText('No image matches.')).toBeVisible();
  await page.getByTestId('filter-date').selectOption('1');
  const all = await count('');
  await expect(shown()).toHaveText(`${all} image${all === 1 ? '' : 's'}`);
});

test('delete an image from the gallery', async ({ page }) => {
  await page.goto(`${base()}/#/gallery`);
  await page.getByTestId('gallery-search').fill('img2img_marker');
  await expect(page.getByTestId('gallery-count')).toHaveText('1 image');
  await page.locator('#view-gallery [data-testid=thumb]').first().click();
  const viewer = page.getByTestId('image-viewer');
  await expect(viewer).toBeVisible();
  page.once('dialog', (d) => void d.accept());
  await viewer.getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByText('No image matches.')).toBeVisible();
  await expect(viewer).toHaveCount(0);
  expect((await (await page.request.get(`${api()}/api/v1/images?q=img2img_marker`)).json()).total).toBe(0);
});

test('model previews from the library', async ({ page }) => {
  await page.goto(`${base()}/#/models`);
  // The LoRA's preview (tiny_style.preview.png beside the file). The library gives folder
  // models (the diffusers sd1 fixture) none yet, so its card shows the family badge.
  const preview = page.getByAltText('Preview of tiny_style');
  await expect(preview).toBeVisible();
  expect(await preview.getAttribute('src')).toMatch(/^\/api\/v1\/library\/models\/[^/]+\/preview$/);
  await expect.poll(() => preview.evaluate((i: HTMLImageElement) => i.naturalWidth)).toBe(64);
  await shot(page, 'models-previews');
});
