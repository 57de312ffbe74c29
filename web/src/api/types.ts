// The UI's own view of the server's data. The API client (client.ts) turns whatever the
// server sends into these shapes, so the views never read raw JSON: when an endpoint's shape
// changes, only normalize.ts changes.

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type JobKind = 'txt2img' | 'img2img' | 'inpaint';

export interface LoraRef {
  name: string;
  weight: number;
  te_weight?: number;
}

// The body of POST /api/v1/jobs: A1111 field names. Optional fields are left out when unset
// (the server rejects unknown fields, so nothing else may be added).
export interface JobRequest {
  prompt: string;
  negative_prompt?: string;
  model?: string;
  sampler_name?: string;
  scheduler?: string;
  steps?: number;
  cfg_scale?: number;
  seed?: number;
  width?: number;
  height?: number;
  batch_size?: number;
  clip_skip?: number;
  loras?: LoraRef[];
  // Edits: PNGs as base64 (no data: prefix).
  init_image?: string;
  mask?: string;
  denoising_strength?: number;
  mask_blur?: number;
  inpaint_full_res?: boolean;
  inpaint_full_res_padding?: number;
  inpainting_fill?: number;
  outpaint?: [number, number, number, number];
  // Hires fix.
  enable_hr?: boolean;
  hr_scale?: number;
  hr_second_pass_steps?: number;
  hr_upscaler?: string;
  hr_denoising_strength?: number;
  kind?: JobKind;
  tags?: string[];
  priority?: number;
}

export interface Progress {
  step: number;
  total: number;
  secondsPerStep: number;
}

export interface ResultImage {
  id: string;
  url: string;
  seed: number;
  width: number;
  height: number;
}

export interface Job {
  id: string;
  kind: string;
  state: JobState;
  error: string | null;
  createdMs: number;
  startedMs: number;
  finishedMs: number;
  cancelRequested: boolean;
  request: Partial<JobRequest>;
  progress: Progress | null;
  images: ResultImage[];
}

export interface ImageRecord {
  id: string;
  jobId: string;
  url: string;
  width: number;
  height: number;
  seed: number;
  prompt: string;
  negativePrompt: string;
  model: string;
  sampler: string;
  scheduler: string;
  steps: number;
  cfgScale: number;
  loras: LoraRef[];
  tags: string[];
  params: Record<string, unknown>;
  createdMs: number;
}

export interface ImagePage {
  images: ImageRecord[];
  total: number;
  clientFiltered?: string[]; // filters the server could not apply ("LoRA", "date", "size"): applied to this page only
}

export interface ImageQuery {
  q?: string;
  model?: string;
  minWidth?: number;
  maxWidth?: number;
  minHeight?: number;
  maxHeight?: number;
  lora?: string; // a LoRA the image used
  from?: number; // created_ms bounds (inclusive)
  to?: number;
  width?: number; // an exact size
  height?: number;
  limit?: number;
  offset?: number;
}

export interface ModelInfo {
  name: string; // what jobs name in "model"
  title: string;
  kind: string; // checkpoint, lora, vae ...
  family: string;
  format: string;
  supported: boolean;
  size: number;
  path: string;
  description: string;
  tags: string[];
  triggerWords: string[];
  preview: string; // a URL or "" (none)
  error: string;
}

export interface LoraInfo {
  name: string;
  size: number;
  triggerWords: string[];
  preview: string;
  family: string;
  path?: string; // the file on the server, when the model library knows it (presets name LoRAs by path)
}

export interface ModelList {
  models: ModelInfo[];
  loras: LoraInfo[];
  defaultModel: string;
}

export interface PresetParams {
  width?: number;
  height?: number;
  steps?: number;
  cfg?: number;
  sampler?: string;
  scheduler?: string;
  clip_skip?: number;
}

export interface Preset {
  type: 'image';
  name: string;
  description: string;
  checkpoint: string;
  diffusion_model: string;
  vae: string;
  clip_l: string;
  clip_g: string;
  t5xxl: string;
  loras: { path: string; weight: number }[];
  params: PresetParams;
  family: string;
  vram_weights_mb: number;
}

export interface PresetValidation {
  valid: boolean;
  problems: { field: string; message: string }[];
  preset: Preset | null;
}

export interface Choice {
  value: string;
  label: string;
}

export interface DeviceInfo {
  id: string;
  device: string;
  state: string;
  rssBytes: number;
  loadedModel: string;
}

export interface Stats {
  queued: number;
  running: number;
  memoryUsedBytes: number; // server + workers resident
  memoryTotalBytes: number;
  memoryAvailableBytes: number;
  devices: DeviceInfo[];
  loadedModels: string[];
  version: string;
}

export interface PngInfo {
  info: string; // the raw A1111 "parameters" text
  request: Partial<JobRequest>; // what could be read back into the form
}

// A server event (SSE) in the UI's terms.
export interface JobEvent {
  type: string; // queued, running, started, progress, succeeded, failed, cancelled, end, ...
  jobId: string;
  progress?: Progress;
  previewUrl?: string; // data: URL of a live preview
  job?: Job;
  error?: string;
}
