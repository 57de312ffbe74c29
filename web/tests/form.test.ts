import { describe, expect, it } from 'vitest';
import { imageRecord } from '../src/api/normalize';
import { applyRequest, aspectOf, defaultForm, predictJobBytes, requestOfImage, restoreForm, sizeForAspect, toRequest } from '../src/lib/form';
import { IMAGE } from './fake_server';

describe('toRequest', () => {
  it('sends A1111 field names and a random seed by default', () => {
    const f = { ...defaultForm(), prompt: 'a cat', steps: 2, width: 64, height: 64 };
    const r = toRequest(f);
    expect(r).toMatchObject({ prompt: 'a cat', steps: 2, width: 64, height: 64, seed: -1, cfg_scale: 7, sampler_name: 'euler', batch_size: 1 });
    expect(r.init_image).toBeUndefined();
    expect(r.enable_hr).toBeUndefined();
    expect(r.clip_skip).toBeUndefined();
  });

  it('fixed seed, model and hires', () => {
    const f = { ...defaultForm(), seedMode: 'fixed' as const, seed: 42, model: 'sd1', clipSkip: 2, hires: { enabled: true, scale: 1.5, steps: 0, upscaler: 'Latent', denoise: 0.4 } };
    const r = toRequest(f);
    expect(r).toMatchObject({ seed: 42, model: 'sd1', clip_skip: 2, enable_hr: true, hr_scale: 1.5, hr_upscaler: 'Latent', hr_denoising_strength: 0.4 });
    expect(r.hr_second_pass_steps).toBeUndefined();
  });

  it('inpaint: image and mask without the data: prefix, edit options, outpaint', () => {
    const f = defaultForm();
    f.mode = 'inpaint';
    f.edit = { ...f.edit, initImage: 'data:image/png;base64,AAAA', outpaint: [0, 64, 0, 0], fill: 2 };
    const r = toRequest(f, 'data:image/png;base64,BBBB');
    expect(r).toMatchObject({ init_image: 'AAAA', mask: 'BBBB', denoising_strength: 0.75, mask_blur: 4, inpainting_fill: 2, outpaint: [0, 64, 0, 0] });
    expect(r.enable_hr).toBeUndefined();
  });

  it('img2img sends no mask', () => {
    const f = defaultForm();
    f.mode = 'img2img';
    f.edit = { ...f.edit, initImage: 'data:image/png;base64,AAAA' };
    const r = toRequest(f, 'data:image/png;base64,BBBB');
    expect(r.init_image).toBe('AAAA');
    expect(r.mask).toBeUndefined();
  });
});

describe('reuse parameters', () => {
  it('fills the form from a stored image, seed fixed, LoRA kept in the prompt', () => {
    const img = imageRecord(IMAGE);
    const f = applyRequest(defaultForm(), requestOfImage(img));
    expect(f.prompt).toBe(IMAGE.prompt);
    expect(f.negativePrompt).toBe('blurry');
    expect(f).toMatchObject({ model: 'sd1', sampler: 'euler_ancestral', scheduler: 'karras', steps: 2, cfg: 6.5, width: 64, height: 64, seed: 1234, seedMode: 'fixed', clipSkip: 2 });
  });

  it('adds LoRAs the prompt lacks as tags', () => {
    const f = applyRequest(defaultForm(), { prompt: 'a fox', loras: [{ name: 'foxy', weight: 0.5 }] });
    expect(f.prompt).toBe('a fox, <lora:foxy:0.5>');
  });

  it('uses the first-pass size for a hires image', () => {
    const img = imageRecord({ ...IMAGE, width: 128, height: 128, params: { enable_hr: true, width: 64, height: 64, hr_scale: 2 } });
    const f = applyRequest(defaultForm(), requestOfImage(img));
    expect(f).toMatchObject({ width: 64, height: 64 });
    expect(f.hires).toMatchObject({ enabled: true, scale: 2 });
  });

  it('leaves fields the source lacks alone', () => {
    const base = { ...defaultForm(), steps: 33, prompt: 'old' };
    const f = applyRequest(base, { prompt: 'new' });
    expect(f.steps).toBe(33);
    expect(f.prompt).toBe('new');
    expect(f.seedMode).toBe('random');
  });
});

describe('form helpers', () => {
  it('aspect presets give multiples of 8 near the area', () => {
    const s = sizeForAspect(16, 9, 512 * 512);
    expect(s.width % 8).toBe(0);
    expect(s.height % 8).toBe(0);
    expect(aspectOf(s.width, s.height)).toBe('16:9');
    expect(aspectOf(512, 512)).toBe('1:1');
  });

  it('restores a saved form over the defaults, dropping bad values and the image mode', () => {
    const f = restoreForm({ prompt: 'x', steps: 'many', mode: 'inpaint', hires: { scale: 3 } });
    expect(f.prompt).toBe('x');
    expect(f.steps).toBe(20);
    expect(f.mode).toBe('txt2img');
    expect(f.hires).toMatchObject({ scale: 3, enabled: false });
    expect(restoreForm(null)).toEqual(defaultForm());
  });

  it('predicts more memory for bigger jobs', () => {
    const f = defaultForm();
    const a = predictJobBytes(2e9, f);
    const b = predictJobBytes(2e9, { ...f, batch: 4 });
    expect(a).toBeGreaterThan(2e9);
    expect(b).toBeGreaterThan(a);
  });
});
