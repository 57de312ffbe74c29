// Gallery filters sent to the server (and the fallback when it lacks or refuses one), model
// previews from the library, and the API-key login (dialog on 401, Bearer on fetches, the
// queue stream through fetch, images as blobs).
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../src/api/client';
import { App } from '../src/App';
import { dateBounds } from '../src/views/GalleryView';
import { fakeFetch, IMAGE, sseResponse } from './fake_server';
import { FakeEventSource } from './setup';

const IMAGES_DOC = (names: string[]) => ({
  paths: { '/api/v1/images': { get: { parameters: ['q', 'model', 'limit', 'offset', ...names].map((name) => ({ name, in: 'query' })) } } },
});
const OTHER = { ...IMAGE, id: 'i_00000000000000a2', prompt: 'a plain fox', loras: [], width: 512, height: 768, created_ms: 5 };

describe('gallery filters', () => {
  it('sends LoRA, date range and exact size to a server that documents them', async () => {
    const f = fakeFetch({ 'GET /api/v1/openapi.json': IMAGES_DOC(['lora', 'from', 'to', 'width', 'height']), 'GET /api/v1/images': { images: [IMAGE], total: 1 } });
    const page = await new ApiClient('', f.fn).images({ lora: 'foxy', from: 1000, to: 2e12, width: 64, height: 64 });
    const url = new URL(f.calls.find((c) => c.url.includes('/api/v1/images'))!.url, 'http://x');
    expect(Object.fromEntries(url.searchParams)).toMatchObject({ lora: 'foxy', from: '1000', to: '2000000000000', width: '64', height: '64' });
    expect(page.clientFiltered).toBeUndefined();
    expect(page.total).toBe(1);
  });

  it('filters the page itself, and says so, for filters the server does not document', async () => {
    const f = fakeFetch({ 'GET /api/v1/openapi.json': IMAGES_DOC(['min_width']), 'GET /api/v1/images': { images: [IMAGE, OTHER], total: 2 } });
    const page = await new ApiClient('', f.fn).images({ lora: 'foxy', from: 1000 });
    expect(f.calls.find((c) => c.url.includes('/api/v1/images'))!.url).not.toMatch(/lora=|from=/);
    expect(page.images.map((i) => i.id)).toEqual([IMAGE.id]);
    expect(page.clientFiltered).toEqual(['LoRA', 'date']);
  });

  it('asks again without the filters a server refuses (400)', async () => {
    const f = fakeFetch({
      'GET /api/v1/images': (_b: unknown, url: string) => (url.includes('width=') ? [400, { error: { code: 'invalid_argument', message: "unknown query parameter 'width'" } }] : { images: [IMAGE, OTHER], total: 2 }),
    });
    const page = await new ApiClient('', f.fn).images({ width: 512, height: 768 });
    expect(f.calls.filter((c) => c.url.includes('/api/v1/images'))).toHaveLength(2);
    expect(page.images.map((i) => i.id)).toEqual([OTHER.id]);
    expect(page.clientFiltered).toEqual(['size']);
  });

  it('turns the date choices into created_ms bounds', () => {
    const now = new Date('2026-03-10T15:00:00').getTime();
    expect(dateBounds('', '', '', now)).toEqual({});
    expect(dateBounds('1', '', '', now)).toEqual({ from: new Date('2026-03-10T00:00:00').getTime() });
    expect(dateBounds('7', '', '', now)).toEqual({ from: now - 7 * 86400e3 });
    expect(dateBounds('range', '2026-03-01', '2026-03-02', now)).toEqual({ from: new Date('2026-03-01T00:00:00').getTime(), to: new Date('2026-03-03T00:00:00').getTime() - 1 });
    expect(dateBounds('range', '', '2026-03-02', now)).toEqual({ to: new Date('2026-03-03T00:00:00').getTime() - 1 });
  });

  it('the gallery sends the LoRA filter and notes a server that cannot filter by it', async () => {
    const f = fakeFetch({
      'GET /api/v1/openapi.json': IMAGES_DOC([]),
      'GET /api/v1/models': { models: [{ name: 'sd1', supported: true }], loras: [{ name: 'foxy', size: 1 }], default_model: 'sd1' },
      'GET /api/v1/jobs': { jobs: [], total: 0 },
      'GET /api/v1/images': { images: [IMAGE, OTHER], total: 2 },
    });
    render(<App api={new ApiClient('', f.fn)} />);
    fireEvent.click(screen.getByRole('tab', { name: 'Gallery' }));
    await waitFor(() => expect(screen.getAllByTestId('thumb')).toHaveLength(2));
    fireEvent.change(await screen.findByLabelText('Filter by LoRA'), { target: { value: 'foxy' } });
    await waitFor(() => expect(screen.getAllByTestId('thumb')).toHaveLength(1));
    expect(screen.getByTestId('filter-note').textContent).toContain('cannot filter by LoRA');
    // Exact sizes seen are offered.
    const size = screen.getByTestId('filter-size');
    expect(within(size).getByText('512×768')).toBeTruthy();
  });
});

describe('model previews', () => {
  it('shows the library preview_url on the model card', async () => {
    const f = fakeFetch({
      'GET /api/v1/openapi.json': { paths: { '/api/v1/library/models': {} } },
      'GET /api/v1/models': { models: [{ name: 'sd1', title: 'sd1', family: 'SD1', supported: true }], loras: [{ name: 'tiny_style', size: 9 }], default_model: 'sd1' },
      'GET /api/v1/library/models': { models: [
        { path: '/m/sd1', name: 'sd1', kind: 'checkpoint', family: 'SD1', trigger_words: ['tinyart'], preview_url: '/api/v1/library/models/abc/preview' },
        { path: '/m/Lora/tiny_style.safetensors', name: 'tiny_style', kind: 'lora', preview_url: '/api/v1/library/models/def/preview', trigger_words: ['tiny'] },
      ] },
      'GET /api/v1/jobs': { jobs: [], total: 0 },
    });
    render(<App api={new ApiClient('', f.fn)} />);
    fireEvent.click(screen.getByRole('tab', { name: 'Models' }));
    const img = (await screen.findByAltText('Preview of sd1')) as HTMLImageElement;
    expect(img.getAttribute('src')).toBe('/api/v1/library/models/abc/preview');
    expect(screen.getAllByTestId('model-card')[0].textContent).toContain('Triggers: tinyart');
    expect(((await screen.findByAltText('Preview of tiny_style')) as HTMLImageElement).getAttribute('src')).toBe('/api/v1/library/models/def/preview');
  });
});

describe('preset editor with the library', () => {
  it('adds a LoRA by its file path (what presets store), shown by name', async () => {
    const f = fakeFetch({
      'GET /api/v1/openapi.json': { paths: { '/api/v1/library/models': {}, '/api/v1/presets': {} } },
      'GET /api/v1/models': { models: [{ name: 'sd1', supported: true }], loras: [{ name: 'tiny_style', size: 9 }], default_model: 'sd1' },
      'GET /api/v1/library/models': { models: [{ path: '/m/Lora/tiny_style.safetensors', name: 'tiny_style', kind: 'lora' }] },
      'GET /api/v1/presets': { presets: [] },
      'GET /api/v1/jobs': { jobs: [], total: 0 },
    });
    render(<App api={new ApiClient('', f.fn)} />);
    fireEvent.click(screen.getByRole('tab', { name: 'Models' }));
    fireEvent.click(await screen.findByRole('button', { name: 'New preset' }));
    const add = screen.getByLabelText('Add a LoRA to the preset') as HTMLSelectElement;
    await waitFor(() => expect(within(add).getByText('tiny_style')).toBeTruthy());
    fireEvent.change(add, { target: { value: '/m/Lora/tiny_style.safetensors' } });
    expect((screen.getByLabelText('LoRA 1 path') as HTMLInputElement).value).toBe('/m/Lora/tiny_style.safetensors');
  });
});

describe('API key', () => {
  const created: string[] = [];
  beforeEach(() => {
    URL.createObjectURL = vi.fn(() => {
      created.push('blob:x');
      return `blob:test/${created.length}`;
    });
    URL.revokeObjectURL = vi.fn();
  });
  afterEach(() => {
    created.length = 0;
  });

  it('asks for the key on 401, then sends it as Bearer everywhere (stream and images too)', async () => {
    const KEY = 'sekrit-key-123';
    const authed = (init: string | undefined, body: unknown) => (init === `Bearer ${KEY}` ? body : [401, { error: { code: 'unauthorized', message: 'this server needs its API key' } }]);
    const calls: string[] = [];
    const inner = fakeFetch({});
    const fn = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input);
      const auth = (init?.headers as Record<string, string> | undefined)?.Authorization;
      calls.push(`${url} ${auth ?? '-'}`);
      const path = url.split('?')[0];
      const reply = (body: unknown) => {
        const r = authed(auth, body);
        if (r instanceof Response) return r;
        const [status, payload] = Array.isArray(r) && typeof r[0] === 'number' ? r : [200, r];
        return new Response(JSON.stringify(payload), { status: status as number, headers: { 'Content-Type': 'application/json' } });
      };
      if (path === '/api/v1/stream') return auth === `Bearer ${KEY}` ? sseResponse([['hello', {}]], 0) : reply(null);
      if (path === '/api/v1/models') return reply({ models: [{ name: 'sd1', supported: true }], loras: [], default_model: 'sd1' });
      if (path === '/api/v1/jobs') return reply({ jobs: [], total: 0 });
      if (path === '/api/v1/stats') return reply({ devices: [], memory: {}, queue: { queued: 0, running: 0 } });
      if (path === '/api/v1/images') return reply({ images: [IMAGE], total: 1 });
      if (path.endsWith('/file')) return auth === `Bearer ${KEY}` ? new Response(new Blob(['png'], { type: 'image/png' })) : reply(null);
      return inner.fn(input, init);
    }) as typeof fetch;
    render(<App api={new ApiClient('', fn)} />);
    const dialog = await screen.findByRole('dialog', { name: 'API key needed' });
    await waitFor(() => expect(screen.getByTestId('need-key').textContent).toBe('API key needed')); // in the status bar
    fireEvent.change(within(dialog).getByLabelText('API key'), { target: { value: KEY } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Use this key' }));
    await waitFor(() => expect(screen.queryByRole('dialog', { name: 'API key needed' })).toBeNull());
    expect(localStorage.getItem('easel.apiKey')).toBe(KEY);
    await waitFor(() => expect(screen.queryByTestId('need-key')).toBeNull());
    // Reloaded with the key: models, and the queue stream through fetch with the header.
    await waitFor(() => expect(calls).toContain(`/api/v1/models Bearer ${KEY}`));
    await waitFor(() => expect(calls).toContain(`/api/v1/stream Bearer ${KEY}`));
    // Gallery thumbnails: fetched with the key, shown from blob: URLs.
    fireEvent.click(screen.getByRole('tab', { name: 'Gallery' }));
    await waitFor(() => expect(calls).toContain(`/api/v1/images/${IMAGE.id}/file Bearer ${KEY}`));
    await waitFor(() => expect(screen.getByTestId('thumb').querySelector('img')?.getAttribute('src')).toMatch(/^blob:/));
  });

  it('uses a saved key from the start (no dialog), and EventSource only without a key', async () => {
    localStorage.setItem('easel.apiKey', 'saved-key-456');
    const f = fakeFetch({ 'GET /api/v1/models': { models: [], loras: [] }, 'GET /api/v1/jobs': { jobs: [], total: 0 } });
    render(<App api={new ApiClient('', f.fn)} />);
    await waitFor(() => expect(f.calls.find((c) => c.url.endsWith('/api/v1/models'))?.headers.Authorization).toBe('Bearer saved-key-456'));
    expect(FakeEventSource.instances).toHaveLength(0);
    await waitFor(() => expect(f.calls.some((c) => c.url.endsWith('/api/v1/stream') && c.headers.Authorization === 'Bearer saved-key-456')).toBe(true));
  });
});
