// Raw server JSON -> the UI's types (types.ts). Every reader tolerates missing or mistyped
// fields (a default instead of a crash), and knows the alternative shapes an endpoint has had
// (e.g. /api/v1/models from the server's catalog or from the model library).
import type {
  DeviceInfo, ImagePage, ImageRecord, Job, JobEvent, JobRequest, JobState, LoraInfo, LoraRef,
  ModelInfo, ModelList, PngInfo, Preset, PresetValidation, Progress, ResultImage, Stats,
} from './types';

type Raw = Record<string, unknown>;

export const obj = (v: unknown): Raw => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : {});
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);
export const num = (v: unknown, d = 0): number => {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return d;
};
const bool = (v: unknown, d = false): boolean => (typeof v === 'boolean' ? v : d);
const strs = (v: unknown): string[] => arr(v).filter((x): x is string => typeof x === 'string');

const STATES: JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export function progress(v: unknown): Progress | null {
  const p = obj(v);
  if (!('step' in p) && !('total' in p)) return null;
  return { step: num(p.step), total: num(p.total), secondsPerStep: num(p.seconds_per_step) };
}

export function loraRefs(v: unknown): LoraRef[] {
  return arr(v).map((x) => {
    const l = obj(x);
    const ref: LoraRef = { name: str(l.name), weight: num(l.weight, 1) };
    if ('te_weight' in l) ref.te_weight = num(l.te_weight, ref.weight);
    return ref;
  }).filter((l) => l.name !== '');
}

export function resultImage(v: unknown): ResultImage {
  const i = obj(v);
  const id = str(i.id);
  return {
    id, url: str(i.url, id ? `/api/v1/images/${id}/file` : ''),
    seed: num(i.seed), width: num(i.width), height: num(i.height),
  };
}

export function job(v: unknown): Job {
  const j = obj(v);
  const state = str(j.state) as JobState;
  return {
    id: str(j.id),
    kind: str(j.kind, 'txt2img'),
    state: STATES.includes(state) ? state : 'queued',
    error: typeof j.error === 'string' && j.error !== '' ? j.error : null,
    createdMs: num(j.created_ms),
    startedMs: num(j.started_ms),
    finishedMs: num(j.finished_ms),
    cancelRequested: bool(j.cancel_requested),
    request: obj(j.request) as Partial<JobRequest>,
    progress: progress(j.progress),
    images: arr(obj(j.result).images).map(resultImage),
  };
}

export function imageRecord(v: unknown): ImageRecord {
  const i = obj(v);
  const id = str(i.id);
  return {
    id,
    jobId: str(i.job_id),
    url: str(i.url, `/api/v1/images/${id}/file`),
    width: num(i.width), height: num(i.height), seed: num(i.seed),
    prompt: str(i.prompt), negativePrompt: str(i.negative_prompt),
    model: str(i.model), sampler: str(i.sampler ?? i.sampler_name), scheduler: str(i.scheduler),
    steps: num(i.steps), cfgScale: num(i.cfg_scale ?? i.cfg),
    loras: loraRefs(i.loras), tags: strs(i.tags), params: obj(i.params),
    createdMs: num(i.created_ms),
  };
}

export function imagePage(v: unknown): ImagePage {
  const p = obj(v);
  const images = arr(p.images).map(imageRecord);
  return { images, total: num(p.total, images.length) };
}

// A model listing from either the server's catalog ({models:[{name,title,format,family,
// supported}], loras:[{name,size}], default_model}) or the model library ({models:[{path,
// name, kind, family, trigger_words, preview ...}], count, counts}).
export function modelInfo(v: unknown): ModelInfo {
  const m = obj(v);
  const kind = str(m.kind, 'checkpoint');
  const family = str(m.family, 'unknown');
  return {
    name: str(m.name, str(m.title)),
    title: str(m.title, str(m.name)),
    kind,
    family,
    format: str(m.format),
    supported: typeof m.supported === 'boolean' ? m.supported : str(m.error) === '',
    size: num(m.size),
    path: str(m.path),
    description: str(m.description),
    tags: strs(m.tags),
    triggerWords: strs(m.trigger_words),
    preview: previewUrl(str(m.preview_url, str(m.preview))),
    error: str(m.error),
  };
}

// A preview the browser can load: a URL (the library's `preview_url`, a route of the
// server), never a path on the server's disk (the library's `preview`).
export function previewUrl(p: string, base = ''): string {
  if (/^\/api\//.test(p)) return base + p;
  return /^(https?:|data:image\/)/.test(p) ? p : '';
}

const stem = (p: string) => (p.replace(/\/+$/, '').split(/[\\/]/).pop() ?? p).replace(/\.(safetensors|ckpt|pt|pth|bin|gguf)$/i, '');

// The model library's records (GET /api/v1/library/models: {models:[{path, name, kind,
// family, trigger_words, preview_url, description, tags}]}) merged into the catalog's list:
// a catalog model or LoRA takes the preview, trigger words and description of the library
// record with the same name or file stem, and keeps its own name and family otherwise.
export function mergeLibrary(list: ModelList, raw: unknown, base = ''): void {
  const recs = arr(obj(raw).models).map(obj);
  const find = (name: string) => recs.find((r) => str(r.name) === name || stem(str(r.path)) === stem(name));
  for (const m of list.models) {
    const r = find(m.name);
    if (!r) continue;
    m.preview ||= previewUrl(str(r.preview_url), base);
    if (!m.triggerWords.length) m.triggerWords = strs(r.trigger_words);
    if (!m.description) m.description = str(r.description);
    if (!m.tags.length) m.tags = strs(r.tags);
    if ((!m.family || m.family === 'unknown') && str(r.family)) m.family = str(r.family);
  }
  for (const l of list.loras) {
    const r = find(l.name);
    if (!r) continue;
    l.preview ||= previewUrl(str(r.preview_url), base);
    if (!l.path && str(r.path)) l.path = str(r.path);
    if (!l.triggerWords.length) l.triggerWords = strs(r.trigger_words);
    if (!l.family && str(r.family)) l.family = str(r.family);
  }
}

export function modelList(v: unknown): ModelList {
  const r = obj(v);
  const all = arr(r.models).map(modelInfo);
  const loras: LoraInfo[] = arr(r.loras).map((x) => {
    const l = obj(x);
    return { name: str(l.name), size: num(l.size), triggerWords: strs(l.trigger_words), preview: previewUrl(str(l.preview_url, str(l.preview))), family: str(l.family) };
  });
  // The library lists LoRAs among the models, by kind.
  for (const m of all.filter((m) => m.kind === 'lora'))
    if (!loras.some((l) => l.name === m.name))
      loras.push({ name: m.name, size: m.size, triggerWords: m.triggerWords, preview: m.preview, family: m.family, ...(m.path ? { path: m.path } : {}) });
  const models = all.filter((m) => m.kind === 'checkpoint' || m.kind === 'diffusion_model' || m.kind === '');
  return { models, loras, defaultModel: str(r.default_model) };
}

export function preset(v: unknown): Preset {
  const p = obj(v);
  const params = obj(p.params);
  return {
    type: 'image',
    name: str(p.name), description: str(p.description),
    checkpoint: str(p.checkpoint), diffusion_model: str(p.diffusion_model), vae: str(p.vae),
    clip_l: str(p.clip_l), clip_g: str(p.clip_g), t5xxl: str(p.t5xxl),
    loras: arr(p.loras).map((x) => ({ path: str(obj(x).path), weight: num(obj(x).weight, 1) })),
    params: {
      ...(params.width ? { width: num(params.width) } : {}),
      ...(params.height ? { height: num(params.height) } : {}),
      ...(params.steps ? { steps: num(params.steps) } : {}),
      ...(params.cfg ? { cfg: num(params.cfg) } : {}),
      ...(params.sampler ? { sampler: str(params.sampler) } : {}),
      ...(params.scheduler ? { scheduler: str(params.scheduler) } : {}),
      ...(params.clip_skip ? { clip_skip: num(params.clip_skip) } : {}),
    },
    family: str(p.family), vram_weights_mb: num(p.vram_weights_mb),
  };
}

export function presetValidation(v: unknown): PresetValidation {
  const r = obj(v);
  return {
    valid: bool(r.valid),
    problems: arr(r.problems).map((x) => ({ field: str(obj(x).field), message: str(obj(x).message) })),
    preset: r.preset ? preset(r.preset) : null,
  };
}

export function stats(v: unknown): Stats {
  const s = obj(v);
  const q = obj(s.queue);
  const mem = obj(s.memory);
  const devices: DeviceInfo[] = arr(s.devices).map((x) => {
    const d = obj(x);
    return { id: str(d.id), device: str(d.device), state: str(d.state), rssBytes: num(d.rss_bytes), loadedModel: str(d.loaded_model) };
  });
  const total = num(mem.system_total_bytes);
  const used = num(mem.server_rss_bytes) + devices.reduce((a, d) => a + d.rssBytes, 0);
  return {
    queued: num(q.queued), running: num(q.running),
    memoryUsedBytes: used, memoryTotalBytes: total, memoryAvailableBytes: num(mem.system_available_bytes),
    devices,
    loadedModels: arr(s.loaded_models).map((x) => str(obj(x).model)).filter(Boolean),
    version: str(s.version),
  };
}

// A1111 infotext parameters ({"Prompt", "Negative prompt", "Steps", "Sampler", "CFG scale",
// "Seed", "Size-1", "Size-2", "Model", "Schedule type", "Clip skip", ...}) -> request fields.
export function pngInfo(v: unknown): PngInfo {
  const r = obj(v);
  const p = obj(r.parameters);
  const req: Partial<JobRequest> = {};
  if (typeof p.Prompt === 'string') req.prompt = p.Prompt;
  if (typeof p['Negative prompt'] === 'string') req.negative_prompt = p['Negative prompt'] as string;
  const n = (k: string) => (k in p ? num(p[k], NaN) : NaN);
  if (!Number.isNaN(n('Steps'))) req.steps = n('Steps');
  if (!Number.isNaN(n('CFG scale'))) req.cfg_scale = n('CFG scale');
  if (!Number.isNaN(n('Seed'))) req.seed = n('Seed');
  if (!Number.isNaN(n('Size-1'))) req.width = n('Size-1');
  if (!Number.isNaN(n('Size-2'))) req.height = n('Size-2');
  if (!Number.isNaN(n('Clip skip'))) req.clip_skip = n('Clip skip');
  if (!Number.isNaN(n('Denoising strength'))) req.denoising_strength = n('Denoising strength');
  if (typeof p.Sampler === 'string') req.sampler_name = p.Sampler;
  if (typeof p['Schedule type'] === 'string') req.scheduler = (p['Schedule type'] as string).toLowerCase();
  if (typeof p.Model === 'string') req.model = p.Model;
  return { info: str(r.info), request: req };
}

// One SSE message (its event type and parsed data) -> a JobEvent.
export function jobEvent(type: string, data: unknown): JobEvent {
  const d = obj(data);
  const ev: JobEvent = { type: str(d.type, type) || type, jobId: str(d.job_id) };
  if (type === 'progress') {
    ev.progress = progress(d) ?? undefined;
    const pv = obj(d.preview);
    const b64 = str(pv.data);
    if (b64) ev.previewUrl = b64.startsWith('data:') ? b64 : `data:${str(pv.mime, 'image/png')};base64,${b64}`;
  }
  if (d.job) {
    ev.job = job(d.job);
    if (!ev.jobId) ev.jobId = ev.job.id;
  }
  if (typeof d.error === 'string' && d.error) ev.error = d.error;
  return ev;
}
