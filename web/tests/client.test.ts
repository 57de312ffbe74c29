import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, FALLBACK_SAMPLERS, isUnavailable } from '../src/api/client';
import { jobEvent } from '../src/api/normalize';
import { subscribe } from '../src/api/sse';
import { FakeEventSource } from './setup';
import { fakeFetch, IMAGE } from './fake_server';

const JOB = { id: 'j_0000000000000001', kind: 'txt2img', state: 'queued', error: null, created_ms: 1, started_ms: 0, finished_ms: 0, request: { prompt: 'p' }, result: null };

describe('ApiClient', () => {
  it('submits a job as JSON without empty fields', async () => {
    const f = fakeFetch({ 'POST /api/v1/jobs': [202, JOB] });
    const api = new ApiClient('', f.fn);
    const job = await api.submit({ prompt: 'p', negative_prompt: '', model: '', loras: [], steps: 2, seed: NaN });
    expect(job.id).toBe(JOB.id);
    expect(job.state).toBe('queued');
    expect(f.calls[0].body).toEqual({ prompt: 'p', negative_prompt: '', steps: 2 });
  });

  it('turns the native error shape into ApiError with the message', async () => {
    const f = fakeFetch({ 'POST /api/v1/jobs': [400, { error: { code: 'invalid_argument', message: "'steps' is 0, outside 1..150", status: 400 } }] });
    const api = new ApiClient('', f.fn);
    const err = await api.submit({ prompt: 'p' }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_argument');
    expect(err.message).toContain("'steps'");
    expect(isUnavailable(err)).toBe(false);
  });

  it('reports a missing endpoint as unavailable and a dead server clearly', async () => {
    const api = new ApiClient('', fakeFetch({}).fn);
    expect(isUnavailable(await api.presets().catch((e) => e))).toBe(true);
    const dead = new ApiClient('', (async () => { throw new TypeError('Failed to fetch'); }) as typeof fetch);
    const err = await dead.stats().catch((e) => e);
    expect(err.status).toBe(0);
    expect(err.message).toContain('easel serve');
  });

  it('reads the catalog model list', async () => {
    const f = fakeFetch({ 'GET /api/v1/models': { models: [{ name: 'sd1', title: 'sd1', format: 'diffusers', family: 'SD1', supported: true, size: 10 }], loras: [{ name: 'foxy', size: 3 }], default_model: 'sd1' } });
    const m = await new ApiClient('', f.fn).models();
    expect(m.defaultModel).toBe('sd1');
    expect(m.models.map((x) => [x.name, x.family, x.supported])).toEqual([['sd1', 'SD1', true]]);
    expect(m.loras.map((x) => x.name)).toEqual(['foxy']);
  });

  it('reads the model library list (LoRAs by kind, trigger words)', async () => {
    const f = fakeFetch({
      'GET /api/v1/models': { models: [
        { path: '/m/a.safetensors', name: 'a', kind: 'checkpoint', family: 'SDXL', size: 7, error: '', trigger_words: [], preview: '/m/a.preview.png' },
        { path: '/m/Lora/s.safetensors', name: 's', kind: 'lora', family: 'SDXL', size: 1, error: '', trigger_words: ['sks style'] },
        { path: '/m/v.safetensors', name: 'v', kind: 'vae', family: 'SDXL', size: 1, error: '' },
      ], count: 3, counts: {} },
    });
    const m = await new ApiClient('', f.fn).models();
    expect(m.models.map((x) => x.name)).toEqual(['a']);
    expect(m.models[0].preview).toBe(''); // a path on the server's disk is no URL
    expect(m.loras).toEqual([{ name: 's', size: 1, triggerWords: ['sks style'], preview: '', family: 'SDXL', path: '/m/Lora/s.safetensors' }]);
  });

  it('searches images with every filter in the query (no openapi.json: all are tried)', async () => {
    const other = { ...IMAGE, id: 'i_00000000000000a2', loras: [], created_ms: 5 };
    const f = fakeFetch({ 'GET /api/v1/images': { images: [IMAGE, other], total: 2 } });
    const api = new ApiClient('', f.fn);
    const page = await api.images({ q: 'fox', model: 'sd1', minWidth: 64, lora: 'foxy' });
    const call = f.calls.find((c) => c.url.includes('/api/v1/images'))!;
    expect(call.url).toContain('q=fox');
    expect(call.url).toContain('model=sd1');
    expect(call.url).toContain('min_width=64');
    expect(call.url).toContain('lora=foxy'); // no openapi.json: every filter is tried
    expect(page.images.map((i) => i.id)).toEqual([IMAGE.id, other.id]); // the server's answer, as it is
    expect(page.clientFiltered).toBeUndefined();
    expect(page.images[0]).toMatchObject({ cfgScale: 6.5, sampler: 'euler_ancestral', jobId: IMAGE.job_id });
  });

  it('falls back to the built-in sampler list', async () => {
    const api = new ApiClient('', fakeFetch({}).fn);
    expect(await api.samplers()).toEqual(FALLBACK_SAMPLERS);
    const f = fakeFetch({ 'GET /sdapi/v1/samplers': [{ name: 'DPM++ 2M', aliases: ['dpmpp_2m'] }] });
    expect(await new ApiClient('', f.fn).samplers()).toEqual([{ value: 'dpmpp_2m', label: 'DPM++ 2M' }]);
  });

  it('maps png-info parameters to request fields', async () => {
    const f = fakeFetch({ 'POST /sdapi/v1/png-info': { info: 'a fox\nSteps: 2', items: {}, parameters: { Prompt: 'a fox', 'Negative prompt': 'ugly', Steps: '2', 'CFG scale': '7', Seed: '99', 'Size-1': '64', 'Size-2': '48', Sampler: 'Euler a', 'Schedule type': 'Karras' } } });
    const info = await new ApiClient('', f.fn).pngInfo('AAAA');
    expect(f.calls[0].body).toEqual({ image: 'AAAA' });
    expect(info.request).toEqual({ prompt: 'a fox', negative_prompt: 'ugly', steps: 2, cfg_scale: 7, seed: 99, width: 64, height: 48, sampler_name: 'Euler a', scheduler: 'karras' });
  });

  it('rescan falls back to the catalog refresh', async () => {
    const f = fakeFetch({ 'POST /api/v1/models/refresh': { models: 1, loras: 0 } });
    expect(await new ApiClient('', f.fn).rescan()).toBe('1 models, 0 LoRAs');
  });
});

describe('events', () => {
  it('normalizes progress with a preview and terminal events with the job', () => {
    const p = jobEvent('progress', { job_id: 'j1', type: 'progress', step: 1, total: 2, seconds_per_step: 0.5, preview: { mime: 'image/png', data: 'QUJD' } });
    expect(p.progress).toEqual({ step: 1, total: 2, secondsPerStep: 0.5 });
    expect(p.previewUrl).toBe('data:image/png;base64,QUJD');
    const s = jobEvent('succeeded', { job_id: 'j1', type: 'succeeded', job: { ...JOB, state: 'succeeded', result: { images: [{ id: 'i_1', seed: 5, width: 64, height: 64 }] } } });
    expect(s.job?.state).toBe('succeeded');
    expect(s.job?.images[0]).toMatchObject({ id: 'i_1', url: '/api/v1/images/i_1/file', seed: 5 });
  });

  it('subscribe delivers typed events and closes', () => {
    const got: string[] = [];
    const close = subscribe('/api/v1/stream', (e) => got.push(`${e.type}:${e.jobId}`));
    const es = FakeEventSource.instances[0];
    es.emit('queued', { job_id: 'j1', type: 'queued' });
    es.emit('progress', { job_id: 'j1', type: 'progress', step: 1, total: 2 });
    close();
    expect(got).toEqual(['queued:j1', 'progress:j1']);
    expect(es.closed).toBe(true);
  });
});
