// The Generate form's state, its defaults, and the two conversions the app is built on:
// form -> job request (what the server takes) and stored image / request / PNG parameters ->
// form ("reuse these parameters"). Pure functions, tested in tests/form.test.ts.
import type { ImageRecord, JobRequest, LoraRef } from '../api/types';
import { findLoras, setLora } from './prompt';

export type Mode = 'txt2img' | 'img2img' | 'inpaint';
export type SeedMode = 'random' | 'fixed';

export interface HiresOptions {
  enabled: boolean;
  scale: number;
  steps: number; // 0: as many as the first pass
  upscaler: string;
  denoise: number;
}

export interface EditOptions {
  initImage: string | null; // data: URL of the init image
  initName: string;
  denoise: number;
  maskBlur: number;
  fullRes: boolean;
  padding: number;
  fill: number; // A1111 inpainting_fill: 0 fill, 1 original, 2 latent noise, 3 latent nothing
  outpaint: [number, number, number, number]; // left, right, top, bottom
}

export interface FormState {
  prompt: string;
  negativePrompt: string;
  model: string; // "" : the server's default
  preset: string; // the preset last applied ("" : none)
  sampler: string;
  scheduler: string;
  steps: number;
  cfg: number;
  width: number;
  height: number;
  seedMode: SeedMode;
  seed: number;
  batch: number;
  clipSkip: number; // 0: the model's default
  mode: Mode;
  edit: EditOptions;
  hires: HiresOptions;
}

export function defaultForm(): FormState {
  return {
    prompt: '',
    negativePrompt: '',
    model: '',
    preset: '',
    sampler: 'euler',
    scheduler: 'normal',
    steps: 20,
    cfg: 7,
    width: 512,
    height: 512,
    seedMode: 'random',
    seed: -1,
    batch: 1,
    clipSkip: 0,
    mode: 'txt2img',
    edit: { initImage: null, initName: '', denoise: 0.75, maskBlur: 4, fullRes: false, padding: 32, fill: 1, outpaint: [0, 0, 0, 0] },
    hires: { enabled: false, scale: 2, steps: 0, upscaler: 'Latent', denoise: 0.5 },
  };
}

export const ASPECTS: { label: string; w: number; h: number }[] = [
  { label: '1:1', w: 1, h: 1 },
  { label: '4:3', w: 4, h: 3 },
  { label: '3:2', w: 3, h: 2 },
  { label: '16:9', w: 16, h: 9 },
  { label: '3:4', w: 3, h: 4 },
  { label: '2:3', w: 2, h: 3 },
  { label: '9:16', w: 9, h: 16 },
];

export const roundTo8 = (v: number) => Math.max(64, Math.round(v / 8) * 8);

// A size with the aspect ratio w:h and about `area` pixels (sides multiples of 8).
export function sizeForAspect(w: number, h: number, area: number): { width: number; height: number } {
  const k = Math.sqrt(area / (w * h));
  return { width: roundTo8(w * k), height: roundTo8(h * k) };
}

// The aspect preset closest to a size, if one is within 2%.
export function aspectOf(width: number, height: number): string {
  const r = width / height;
  const hit = ASPECTS.find((a) => Math.abs(a.w / a.h - r) / r < 0.02);
  return hit ? hit.label : '';
}

// The job request for the form. `maskPng` is the painted mask (base64 PNG) for inpainting;
// images are sent as base64 without the data: prefix.
export function toRequest(f: FormState, maskPng?: string | null): JobRequest {
  const req: JobRequest = {
    prompt: f.prompt,
    negative_prompt: f.negativePrompt,
    sampler_name: f.sampler || undefined,
    scheduler: f.scheduler || undefined,
    steps: f.steps,
    cfg_scale: f.cfg,
    seed: f.seedMode === 'fixed' && f.seed >= 0 ? f.seed : -1,
    width: f.width,
    height: f.height,
    batch_size: f.batch,
  };
  if (f.model) req.model = f.model;
  if (f.clipSkip > 0) req.clip_skip = f.clipSkip;
  if (f.mode !== 'txt2img' && f.edit.initImage) {
    req.init_image = stripDataUrl(f.edit.initImage);
    req.denoising_strength = f.edit.denoise;
    if (f.mode === 'inpaint') {
      const out = f.edit.outpaint;
      if (out.some((v) => v > 0)) req.outpaint = [...out];
      if (maskPng) req.mask = stripDataUrl(maskPng);
      req.mask_blur = f.edit.maskBlur;
      req.inpaint_full_res = f.edit.fullRes;
      req.inpaint_full_res_padding = f.edit.padding;
      req.inpainting_fill = f.edit.fill;
    }
  }
  if (f.hires.enabled && f.mode === 'txt2img') {
    req.enable_hr = true;
    req.hr_scale = f.hires.scale;
    if (f.hires.steps > 0) req.hr_second_pass_steps = f.hires.steps;
    if (f.hires.upscaler) req.hr_upscaler = f.hires.upscaler;
    req.hr_denoising_strength = f.hires.denoise;
  }
  return req;
}

export function stripDataUrl(s: string): string {
  const i = s.indexOf('base64,');
  return i >= 0 ? s.slice(i + 7) : s;
}

// Merges LoRAs given as a list into the prompt as <lora:...> tags (the prompt is the one
// place the form keeps them), keeping tags already there.
export function withLoraTags(prompt: string, loras: LoraRef[]): string {
  let p = prompt;
  const present = new Set(findLoras(p).map((l) => l.name));
  for (const l of loras) if (!present.has(l.name)) p = setLora(p, l.name, l.weight, l.te_weight);
  return p;
}

// A request's fields (a job's, or read from a PNG) onto the form. Only the fields present
// change; the seed becomes fixed when one is given (reusing parameters reproduces the image).
export function applyRequest(f: FormState, r: Partial<JobRequest>): FormState {
  const next: FormState = { ...f, edit: { ...f.edit }, hires: { ...f.hires } };
  if (r.prompt !== undefined) next.prompt = withLoraTags(r.prompt, r.loras ?? []);
  if (r.negative_prompt !== undefined) next.negativePrompt = r.negative_prompt;
  if (r.model) next.model = r.model;
  if (r.sampler_name) next.sampler = r.sampler_name;
  if (r.scheduler) next.scheduler = r.scheduler;
  if (r.steps) next.steps = r.steps;
  if (r.cfg_scale !== undefined) next.cfg = r.cfg_scale;
  if (r.width) next.width = r.width;
  if (r.height) next.height = r.height;
  if (r.batch_size) next.batch = r.batch_size;
  if (r.clip_skip) next.clipSkip = r.clip_skip;
  if (r.seed !== undefined && r.seed >= 0) {
    next.seed = r.seed;
    next.seedMode = 'fixed';
  }
  if (r.denoising_strength !== undefined) next.edit.denoise = r.denoising_strength;
  if (r.enable_hr !== undefined) next.hires.enabled = r.enable_hr;
  if (r.hr_scale) next.hires.scale = r.hr_scale;
  if (r.hr_second_pass_steps !== undefined) next.hires.steps = r.hr_second_pass_steps;
  if (r.hr_upscaler) next.hires.upscaler = r.hr_upscaler;
  if (r.hr_denoising_strength !== undefined) next.hires.denoise = r.hr_denoising_strength;
  next.preset = '';
  return next;
}

// A stored image's parameters as a request: the record's columns, then its full params
// (which hold what the columns lack: clip skip, hires ...).
export function requestOfImage(img: ImageRecord): Partial<JobRequest> {
  const p = img.params as Record<string, unknown>;
  const r: Partial<JobRequest> = {
    prompt: img.prompt,
    negative_prompt: img.negativePrompt,
    model: img.model || undefined,
    sampler_name: img.sampler || undefined,
    scheduler: img.scheduler || undefined,
    steps: img.steps || undefined,
    cfg_scale: img.cfgScale,
    seed: img.seed,
    width: img.width || undefined,
    height: img.height || undefined,
    loras: img.loras,
  };
  const num = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
  if (num('clip_skip')) r.clip_skip = num('clip_skip');
  if (typeof p.enable_hr === 'boolean') {
    r.enable_hr = p.enable_hr;
    // The record's size is the final (upscaled) one; the form wants the first pass's.
    if (p.enable_hr && typeof p.width === 'number' && typeof p.height === 'number') {
      r.width = p.width;
      r.height = p.height;
    }
  }
  if (num('hr_scale')) r.hr_scale = num('hr_scale');
  if (num('hr_second_pass_steps') !== undefined) r.hr_second_pass_steps = num('hr_second_pass_steps');
  if (num('hr_denoising_strength') !== undefined) r.hr_denoising_strength = num('hr_denoising_strength');
  if (typeof p.hr_upscaler === 'string') r.hr_upscaler = p.hr_upscaler;
  return r;
}

// What is saved across reloads: everything but the (large) init image.
export function persistable(f: FormState): FormState {
  return { ...f, edit: { ...f.edit, initImage: null, initName: '' } };
}

// A saved form merged over the defaults (fields added since it was saved get defaults).
export function restoreForm(saved: unknown): FormState {
  const d = defaultForm();
  if (!saved || typeof saved !== 'object') return d;
  const s = saved as Partial<FormState>;
  const out: FormState = { ...d, ...s, edit: { ...d.edit, ...(s.edit ?? {}), initImage: null }, hires: { ...d.hires, ...(s.hires ?? {}) } };
  for (const k of ['steps', 'cfg', 'width', 'height', 'batch', 'seed', 'clipSkip'] as const)
    if (typeof out[k] !== 'number' || !Number.isFinite(out[k])) (out[k] as number) = d[k];
  if (out.mode === 'img2img' || out.mode === 'inpaint') out.mode = 'txt2img'; // the image is gone
  return out;
}

// Bytes a job will need beyond the weights: a rough rule for SD-class UNets (activations and
// attention grow with the latent area and batch), for the status bar's prediction.
export function predictJobBytes(modelBytes: number, f: Pick<FormState, 'width' | 'height' | 'batch' | 'hires' | 'mode'>): number {
  const scale = f.hires.enabled && f.mode === 'txt2img' ? f.hires.scale * f.hires.scale : 1;
  const pixels = f.width * f.height * scale * Math.max(1, f.batch);
  return modelBytes + 400e6 + pixels * 2600;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0 B';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}
