// ApiClient: every call the UI makes to `easel serve`, typed. Views use only this class and
// the types in types.ts; the raw shapes are read in normalize.ts. An endpoint the server
// lacks answers 404/405/501: callers check `isUnavailable(e)` and hide the feature.
//
// Thread-safety: n/a (browser). Errors: every failed call throws ApiError with the server's
// message (its native error shape {error:{code,message}} or A1111's {detail}).
//
// API key: a server started with --api-key answers 401 without it. The client sends the key
// as "Authorization: Bearer KEY" on every fetch (SSE included: sse.ts reads streams with
// fetch() when a key is set) and fetches images as blobs (`imageSrc`), since an <img> cannot
// send headers. On a 401 it calls `onUnauthorized` (the app asks for the key).
import * as N from './normalize';
import type {
  Choice, ImagePage, ImageQuery, ImageRecord, Job, JobRequest, JobState, ModelList,
  PngInfo, Preset, PresetValidation, Stats,
} from './types';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

// True when the error means "this server has no such endpoint" (an older or partial build).
// Use it only for calls on fixed paths (a list, stats): there a 404 is the route missing, not
// an item.
export function isUnavailable(e: unknown): boolean {
  return e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501);
}

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

// Samplers and schedulers the engine takes, for servers without /sdapi/v1/samplers.
export const FALLBACK_SAMPLERS: Choice[] = [
  { value: 'euler', label: 'Euler' }, { value: 'euler_ancestral', label: 'Euler a' },
  { value: 'heun', label: 'Heun' }, { value: 'dpmpp_2m', label: 'DPM++ 2M' },
  { value: 'dpmpp_sde', label: 'DPM++ SDE' }, { value: 'ddim', label: 'DDIM' }, { value: 'lcm', label: 'LCM' },
];
export const FALLBACK_SCHEDULERS: Choice[] = [
  { value: 'normal', label: 'Normal' }, { value: 'karras', label: 'Karras' },
  { value: 'exponential', label: 'Exponential' }, { value: 'sgm_uniform', label: 'SGM Uniform' },
  { value: 'simple', label: 'Simple' }, { value: 'beta', label: 'Beta' },
];

type FetchFn = typeof fetch;

// A failed response as ApiError, with the server's message (native, A1111 or OpenAI shape).
async function errorOf(res: Response, method: string, path: string, unauthorized: () => void): Promise<ApiError> {
  let data: unknown = null;
  try {
    data = JSON.parse(await res.text());
  } catch {
    data = null;
  }
  const err = N.obj(N.obj(data).error);
  const detail = N.obj(data).detail;
  let message = N.str(err.message) || N.str(detail) || N.str(N.obj(data).message) || `${method} ${path}: HTTP ${res.status}`;
  const code = N.str(err.code) || N.str(N.obj(data).error) || `http_${res.status}`;
  if (res.status === 401) {
    unauthorized();
    message = 'This server needs its API key: enter it when asked (or click "API key needed" at the top).';
  }
  return new ApiError(res.status, code, message);
}

export class ApiClient {
  constructor(readonly base = '', readonly fetchFn: FetchFn = (...a) => fetch(...a), private apiKey = '') {}

  // Called on every 401 (the key is missing or wrong).
  onUnauthorized: (() => void) | null = null;

  setApiKey(key: string) {
    this.apiKey = key;
  }

  get hasKey(): boolean {
    return this.apiKey !== '';
  }

  // Headers every request carries (the key, when there is one).
  authHeaders(): Record<string, string> {
    return this.apiKey ? { Authorization: `Bearer ${this.apiKey}` } : {};
  }

  private paths: Promise<Set<string> | null> | null = null;

  // Whether the server offers a native path (a prefix of one in /api/v1/openapi.json). Used to
  // leave out calls to optional endpoints (each 404 would be a console error in the browser).
  // Without the document every endpoint is tried.
  async offers(prefix: string): Promise<boolean> {
    this.paths ??= this.call('GET', '/api/v1/openapi.json')
      .then((d) => new Set(Object.keys(N.obj(N.obj(d).paths))))
      .catch(() => null);
    const paths = await this.paths;
    if (!paths) return true;
    for (const p of paths) if (p === prefix || p.startsWith(prefix + '/') || p.startsWith(prefix + '?')) return true;
    return false;
  }

  // Whether the server documents query parameter `name` on GET `path` (true without the
  // document, or when the path lists no parameters at all).
  async offersParam(path: string, name: string): Promise<boolean> {
    this.doc ??= this.call('GET', '/api/v1/openapi.json').catch(() => null);
    const doc = await this.doc;
    if (!doc) return true;
    const params = N.arr(N.obj(N.obj(N.obj(N.obj(doc).paths)[path]).get).parameters);
    if (params.length === 0) return true;
    return params.some((p) => N.str(N.obj(p).name) === name);
  }
  private doc: Promise<unknown> | null = null;

  // Throws the ApiError of a missing endpoint unless the server lists `prefix`.
  private async need(prefix: string): Promise<void> {
    if (!(await this.offers(prefix))) throw new ApiError(404, 'not_found', `this server has no ${prefix}`);
  }

  // One request, the raw response (for streams); throws ApiError when it fails (not ok).
  async send(method: string, path: string, body?: unknown, accept = 'application/json', signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { Accept: accept, ...this.authHeaders() };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', `cannot reach the Easel server (${N.str((e as Error)?.message, 'network error')}): is \`easel serve\` running?`);
    }
    if (!res.ok) throw await errorOf(res, method, path, () => this.onUnauthorized?.());
    return res;
  }

  // One JSON call: the parsed body, or ApiError.
  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await this.send(method, path, body);
    const text = await res.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    return data;
  }

  // --- health and status ------------------------------------------------------------------
  async health(): Promise<{ ready: boolean; message: string }> {
    try {
      const r = N.obj(await this.call('GET', '/api/v1/health'));
      return { ready: N.str(r.status) === 'ok', message: N.str(r.message) };
    } catch (e) {
      if (e instanceof ApiError && e.status === 503) return { ready: false, message: e.message };
      throw e;
    }
  }

  async stats(): Promise<Stats> {
    return N.stats(await this.call('GET', '/api/v1/stats'));
  }

  // --- jobs ---------------------------------------------------------------------------------
  async submit(req: JobRequest): Promise<Job> {
    return N.job(await this.call('POST', '/api/v1/jobs', cleanRequest(req)));
  }

  async job(id: string): Promise<Job> {
    return N.job(await this.call('GET', `/api/v1/jobs/${encodeURIComponent(id)}`));
  }

  async jobs(opts: { state?: JobState; limit?: number; offset?: number } = {}): Promise<{ jobs: Job[]; total: number }> {
    const q = new URLSearchParams();
    if (opts.state) q.set('state', opts.state);
    q.set('limit', String(opts.limit ?? 50));
    if (opts.offset) q.set('offset', String(opts.offset));
    const r = N.obj(await this.call('GET', `/api/v1/jobs?${q}`));
    const jobs = N.arr(r.jobs).map(N.job);
    return { jobs, total: N.num(r.total, jobs.length) };
  }

  async cancel(id: string): Promise<Job> {
    return N.job(await this.call('POST', `/api/v1/jobs/${encodeURIComponent(id)}/cancel`, {}));
  }

  // SSE URLs (see sse.ts): one job's events, or the whole queue's.
  jobStreamUrl(id: string): string {
    return `${this.base}/api/v1/jobs/${encodeURIComponent(id)}/stream`;
  }
  queueStreamUrl(): string {
    return `${this.base}/api/v1/stream`;
  }

  // --- images and history -------------------------------------------------------------------
  // The history, filtered by the server: text (FTS), model, LoRA, date range, exact size or a
  // size range. A filter the server does not document (openapi.json) or rejects (400) is
  // applied to the returned page instead, and named in `clientFiltered` (the view says so:
  // matches beyond the page are then missed).
  async images(query: ImageQuery = {}): Promise<ImagePage> {
    const q = new URLSearchParams();
    if (query.q) q.set('q', query.q);
    if (query.model) q.set('model', query.model);
    if (query.minWidth) q.set('min_width', String(query.minWidth));
    if (query.maxWidth) q.set('max_width', String(query.maxWidth));
    if (query.minHeight) q.set('min_height', String(query.minHeight));
    if (query.maxHeight) q.set('max_height', String(query.maxHeight));
    q.set('limit', String(query.limit ?? 100));
    if (query.offset) q.set('offset', String(query.offset));
    // The filters a server may lack: [query name, value, label for the note].
    const optional: [string, string | undefined, string][] = [
      ['lora', query.lora, 'LoRA'],
      ['from', query.from !== undefined ? String(Math.round(query.from)) : undefined, 'date'],
      ['to', query.to !== undefined ? String(Math.round(query.to)) : undefined, 'date'],
      ['width', query.width ? String(query.width) : undefined, 'size'],
      ['height', query.height ? String(query.height) : undefined, 'size'],
    ];
    const local = new Set<string>();
    for (const [name, value, label] of optional) {
      if (value === undefined) continue;
      if (await this.offersParam('/api/v1/images', name)) q.set(name, value);
      else local.add(label);
    }
    let page: ImagePage;
    try {
      page = N.imagePage(await this.call('GET', `/api/v1/images?${q}`));
    } catch (e) {
      const sent = optional.filter(([name]) => q.has(name));
      if (!(e instanceof ApiError) || e.status !== 400 || sent.length === 0) throw e;
      // Rejected: ask again without them, and filter the page here.
      for (const [name, , label] of sent) {
        q.delete(name);
        local.add(label);
      }
      page = N.imagePage(await this.call('GET', `/api/v1/images?${q}`));
    }
    // Only the filters the server did not apply (its own matching is broader: a LoRA by
    // path or as a <lora:…> tag in the prompt, which this page may not show).
    const loraOf = (i: ImageRecord) => i.loras.some((l) => l.name === query.lora || l.name.split(/[\\/]/).pop()?.replace(/\.safetensors$/, '') === query.lora) ||
      i.prompt.includes(`<lora:${query.lora}:`);
    const images = page.images.filter((i) =>
      (!local.has('LoRA') || !query.lora || loraOf(i)) &&
      (!local.has('date') || ((query.from === undefined || i.createdMs >= query.from) && (query.to === undefined || i.createdMs <= query.to))) &&
      (!local.has('size') || ((!query.width || i.width === query.width) && (!query.height || i.height === query.height))));
    const out: ImagePage = { images, total: images.length === page.images.length ? page.total : images.length };
    if (local.size) out.clientFiltered = [...local];
    return out;
  }

  async image(id: string): Promise<ImageRecord> {
    return N.imageRecord(await this.call('GET', `/api/v1/images/${encodeURIComponent(id)}`));
  }

  imageFileUrl(id: string): string {
    return `${this.base}/api/v1/images/${encodeURIComponent(id)}/file`;
  }

  // A URL an <img> can show for a server URL: itself without a key; with one, the image
  // fetched with the key as a blob: URL (the caller revokes it with URL.revokeObjectURL).
  async imageSrc(url: string, signal?: AbortSignal): Promise<string> {
    if (!this.apiKey || !url.startsWith(`${this.base}/`) || url.startsWith('data:')) return url;
    const res = await this.send('GET', url.slice(this.base.length), undefined, 'image/*', signal);
    return URL.createObjectURL(await res.blob());
  }

  async deleteImage(id: string): Promise<void> {
    await this.call('DELETE', `/api/v1/images/${encodeURIComponent(id)}`);
  }

  // The generation parameters stored in a PNG (base64, no data: prefix).
  async pngInfo(pngBase64: string): Promise<PngInfo> {
    return N.pngInfo(await this.call('POST', '/sdapi/v1/png-info', { image: pngBase64 }));
  }

  // --- models, samplers, presets -------------------------------------------------------------
  async models(): Promise<ModelList> {
    const list = N.modelList(await this.call('GET', '/api/v1/models'));
    if (list.loras.length === 0) {
      // Servers whose /api/v1/models is the library's list LoRAs at the A1111 route.
      try {
        const loras = N.arr(await this.call('GET', '/sdapi/v1/loras'));
        list.loras = loras.map((x) => ({ name: N.str(N.obj(x).name), size: 0, triggerWords: [], preview: '', family: '' })).filter((l) => l.name);
      } catch {
        /* none */
      }
    }
    // The model library knows previews, trigger words and descriptions: merged in by name.
    if (await this.offers('/api/v1/library/models')) {
      try {
        N.mergeLibrary(list, await this.call('GET', '/api/v1/library/models'), this.base);
      } catch {
        /* the catalog's list alone */
      }
    }
    return list;
  }

  // Lists the model folders again (the library's rescan when present, else the catalog's).
  async rescan(): Promise<string> {
    if (await this.offers('/api/v1/library/models/rescan')) {
      try {
        const r = N.obj(await this.call('POST', '/api/v1/library/models/rescan', {}));
        return `Rescanned: ${JSON.stringify(r.counts ?? r.added ?? r).slice(0, 120)}`;
      } catch (e) {
        // The library knows no folders yet (400): the catalog's refresh still lists them.
        if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405 && e.status !== 400)) throw e;
      }
    }
    const r = N.obj(await this.call('POST', '/api/v1/models/refresh', {}));
    return `${N.num(r.models)} models, ${N.num(r.loras)} LoRAs`;
  }

  async samplers(): Promise<Choice[]> {
    try {
      const r = N.arr(await this.call('GET', '/sdapi/v1/samplers'));
      const out = r.map((x) => {
        const s = N.obj(x);
        const alias = N.arr(s.aliases).find((a) => typeof a === 'string') as string | undefined;
        return { value: alias ?? N.str(s.name), label: N.str(s.name) };
      }).filter((c) => c.value);
      return out.length ? out : FALLBACK_SAMPLERS;
    } catch {
      return FALLBACK_SAMPLERS;
    }
  }

  async schedulers(): Promise<Choice[]> {
    try {
      const r = N.arr(await this.call('GET', '/sdapi/v1/schedulers'));
      const out = r.map((x) => ({ value: N.str(N.obj(x).name), label: N.str(N.obj(x).label, N.str(N.obj(x).name)) })).filter((c) => c.value);
      return out.length ? out : FALLBACK_SCHEDULERS;
    } catch {
      return FALLBACK_SCHEDULERS;
    }
  }

  async presets(): Promise<Preset[]> {
    await this.need('/api/v1/presets');
    const r = N.obj(await this.call('GET', '/api/v1/presets?type=image'));
    return N.arr(r.presets).map(N.preset).filter((p) => p.name);
  }

  async validatePreset(p: Preset): Promise<PresetValidation> {
    return N.presetValidation(await this.call('POST', '/api/v1/presets/validate', presetBody(p)));
  }

  // Creates the preset, or replaces it when `existing` names the stored one.
  async savePreset(p: Preset, existing?: string): Promise<Preset> {
    const path = existing ? `/api/v1/presets/${encodeURIComponent(existing)}` : '/api/v1/presets';
    return N.preset(await this.call('POST', path, presetBody(p)));
  }

  async deletePreset(name: string): Promise<void> {
    await this.call('DELETE', `/api/v1/presets/${encodeURIComponent(name)}`);
  }
}

// The preset as the library takes it (computed fields left out).
function presetBody(p: Preset): Record<string, unknown> {
  const body: Record<string, unknown> = { type: 'image', name: p.name, description: p.description, loras: p.loras, params: p.params };
  for (const k of ['checkpoint', 'diffusion_model', 'vae', 'clip_l', 'clip_g', 't5xxl'] as const) if (p[k]) body[k] = p[k];
  return body;
}

// Drops undefined / empty optional fields: the server refuses unknown or mistyped ones.
export function cleanRequest(req: JobRequest): JobRequest {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(req)) {
    if (v === undefined || v === null) continue;
    if (typeof v === 'number' && !Number.isFinite(v)) continue;
    if (Array.isArray(v) && v.length === 0 && k !== 'prompt') continue;
    if (v === '' && k !== 'prompt' && k !== 'negative_prompt') continue;
    out[k] = v;
  }
  return out as unknown as JobRequest;
}
