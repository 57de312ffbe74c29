import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../src/api/client';
import { App } from '../src/App';
import { LoraPicker } from '../src/components/LoraPicker';
import { PromptEditor } from '../src/components/PromptEditor';
import { jobsReducer } from '../src/state';
import { job } from '../src/api/normalize';
import { fakeFetch, IMAGE } from './fake_server';
import { FakeEventSource } from './setup';

describe('PromptEditor', () => {
  it('highlights weights and LoRA tags behind the textarea', () => {
    let value = 'a (red:1.2) fox <lora:foxy:0.7>';
    render(<PromptEditor id="p" label="Prompt" value={value} onChange={(v) => (value = v)} />);
    const box = screen.getByLabelText('Prompt') as HTMLTextAreaElement;
    expect(box.value).toBe(value);
    const hl = screen.getByTestId('p-highlight');
    expect(hl.querySelector('.tok-weight')?.textContent).toBe(':1.2');
    expect(hl.querySelector('.tok-lora')?.textContent).toBe('<lora:foxy:0.7>');
    expect(hl.querySelector('.depth-1')?.textContent).toBe('(');
    fireEvent.change(box, { target: { value: 'x (' } });
    expect(value).toBe('x (');
  });

  it('marks an unmatched bracket', () => {
    render(<PromptEditor id="p" label="Prompt" value="a (b" onChange={() => {}} />);
    expect(screen.getByTestId('p-highlight').querySelector('.tok-error')?.textContent).toBe('(');
  });
});

describe('LoraPicker', () => {
  it('adds a LoRA with its trigger words and changes its weight with the slider', () => {
    let prompt = 'a fox';
    const loras = [{ name: 'foxy', size: 1, triggerWords: ['foxstyle'], preview: '', family: 'SD1' }];
    const { rerender } = render(<LoraPicker prompt={prompt} loras={loras} onPrompt={(p) => (prompt = p)} />);
    fireEvent.change(screen.getByLabelText('Add a LoRA'), { target: { value: 'foxy' } });
    expect(prompt).toBe('a fox, <lora:foxy:1>, foxstyle');
    rerender(<LoraPicker prompt={prompt} loras={loras} onPrompt={(p) => (prompt = p)} />);
    fireEvent.change(screen.getByLabelText('Weight of foxy'), { target: { value: '0.6' } });
    expect(prompt).toBe('a fox, <lora:foxy:0.6>, foxstyle');
    rerender(<LoraPicker prompt={prompt} loras={loras} onPrompt={(p) => (prompt = p)} />);
    fireEvent.click(screen.getByLabelText('Remove foxy'));
    expect(prompt).toBe('a fox, foxstyle');
  });
});

describe('jobsReducer', () => {
  it('follows a job through progress to success', () => {
    let s = jobsReducer({}, { type: 'upsert', job: job({ id: 'j1', state: 'queued', request: { prompt: 'p' } }) });
    s = jobsReducer(s, { type: 'event', ev: { type: 'started', jobId: 'j1' } });
    expect(s.j1.state).toBe('running');
    s = jobsReducer(s, { type: 'event', ev: { type: 'progress', jobId: 'j1', progress: { step: 1, total: 2, secondsPerStep: 1 }, previewUrl: 'data:x' } });
    expect(s.j1.progress?.step).toBe(1);
    expect(s.j1.previewUrl).toBe('data:x');
    s = jobsReducer(s, { type: 'event', ev: { type: 'succeeded', jobId: 'j1', job: job({ id: 'j1', state: 'succeeded', result: { images: [{ id: 'i1' }] } }) } });
    expect(s.j1.state).toBe('succeeded');
    expect(s.j1.images[0].id).toBe('i1');
    expect(jobsReducer(s, { type: 'event', ev: { type: 'progress', jobId: 'unknown' } })).toBe(s);
  });
});

function server(extra: Record<string, unknown> = {}) {
  return fakeFetch({
    'GET /api/v1/models': { models: [{ name: 'sd1', title: 'sd1', format: 'diffusers', family: 'SD1', supported: true, size: 1000 }], loras: [], default_model: 'sd1' },
    'GET /api/v1/jobs': { jobs: [], total: 0 },
    'GET /api/v1/images': { images: [IMAGE], total: 1 },
    'GET /api/v1/stats': { version: '0.1.0', devices: [{ id: 'w0', device: 'cpu', state: 'idle', rss_bytes: 1e8 }], memory: { server_rss_bytes: 5e7, system_total_bytes: 8e9, system_available_bytes: 4e9 }, queue: { queued: 0, running: 0 } },
    ...extra,
  });
}

describe('App', () => {
  it('renders every view on a server with none of the optional endpoints', async () => {
    const f = fakeFetch({}); // every call is 404
    render(<App api={new ApiClient('', f.fn)} />);
    await waitFor(() => expect(screen.getByText(/memory n\/a/)).toBeTruthy());
    for (const name of ['Queue', 'Gallery', 'Models', 'Generate']) {
      fireEvent.click(screen.getByRole('tab', { name }));
      expect(screen.getByRole('tab', { name }).getAttribute('aria-selected')).toBe('true');
    }
    fireEvent.click(screen.getByRole('tab', { name: 'Models' }));
    await waitFor(() => expect(screen.getByTestId('presets-note').textContent).toContain('not available'));
  });

  it('generates with Ctrl+Enter and shows live progress from the stream', async () => {
    const f = server({ 'POST /api/v1/jobs': [202, { id: 'j_0000000000000001', kind: 'txt2img', state: 'queued', request: { prompt: 'a fox' } }] });
    render(<App api={new ApiClient('', f.fn)} />);
    const prompt = screen.getByLabelText('Prompt');
    fireEvent.change(prompt, { target: { value: 'a fox' } });
    fireEvent.keyDown(window, { key: 'Enter', ctrlKey: true });
    await waitFor(() => expect(f.calls.some((c) => c.method === 'POST' && c.url.endsWith('/api/v1/jobs'))).toBe(true));
    const sent = f.calls.find((c) => c.method === 'POST')!.body as Record<string, unknown>;
    expect(sent.prompt).toBe('a fox');
    const es = FakeEventSource.instances.find((e) => e.url.endsWith('/api/v1/stream'))!;
    act(() => es.emit('progress', { job_id: 'j_0000000000000001', type: 'progress', step: 1, total: 2, seconds_per_step: 0.3 }));
    await waitFor(() => expect(screen.getAllByText(/step 1 \/ 2/).length).toBeGreaterThan(0));
    expect(screen.getByTestId('cancel')).toBeTruthy();
  });

  it('reuses an image\'s parameters from the gallery', async () => {
    const f = server();
    render(<App api={new ApiClient('', f.fn)} />);
    fireEvent.click(screen.getByRole('tab', { name: 'Gallery' }));
    const thumb = await screen.findByTestId('thumb');
    fireEvent.click(thumb);
    const viewer = screen.getByTestId('image-viewer');
    expect(within(viewer).getByText('euler_ancestral')).toBeTruthy();
    fireEvent.click(within(viewer).getByTestId('reuse'));
    await waitFor(() => expect(screen.getByRole('tab', { name: 'Generate' }).getAttribute('aria-selected')).toBe('true'));
    expect((screen.getByLabelText('Prompt') as HTMLTextAreaElement).value).toBe(IMAGE.prompt);
    expect((screen.getByTestId('seed') as HTMLInputElement).value).toBe('1234');
    expect((screen.getByTestId('steps') as HTMLInputElement).value).toBe('2');
    expect((screen.getByTestId('cfg') as HTMLInputElement).value).toBe('6.5');
  });

  it('shows memory and queue length in the status bar', async () => {
    render(<App api={new ApiClient('', server().fn)} />);
    await waitFor(() => expect(screen.getByTestId('mem-text').textContent).toMatch(/MB \/ 7\.5 GB/));
    expect(screen.getByTestId('queue-count').textContent).toContain('0 queued');
  });
});

describe('VirtualGrid', () => {
  it('renders only the rows in view of a huge history, and asks for more at the end', async () => {
    const { VirtualGrid, visibleRange } = await import('../src/components/VirtualGrid');
    const items = Array.from({ length: 10000 }, (_, i) => `item${i}`);
    let ended = 0;
    render(<VirtualGrid items={items} minCell={170} label="Images" keyOf={(s) => s} render={(s) => <span>{s}</span>} onEndReached={() => ended++} />);
    const cells = screen.getAllByRole('listitem');
    expect(cells.length).toBeGreaterThan(4);
    expect(cells.length).toBeLessThan(60);
    expect(ended).toBe(0);
    expect(visibleRange(0, 600, 200, 100)).toEqual({ first: 0, last: 5 });
    expect(visibleRange(10000, 600, 200, 100)).toEqual({ first: 48, last: 55 });
    render(<VirtualGrid items={items.slice(0, 3)} minCell={170} label="Few" keyOf={(s) => s} render={(s) => <span>{s}</span>} onEndReached={() => ended++} />);
    expect(ended).toBe(1);
  });
});

describe('Presets', () => {
  it('lists presets, validates a new one with its predicted memory, and saves it', async () => {
    const preset = { type: 'image', name: 'Fast SD1', description: 'tiny', checkpoint: '/m/sd1', loras: [], params: { steps: 8 }, family: 'SD1', vram_weights_mb: 2048 };
    const f = server({
      'GET /api/v1/openapi.json': { paths: { '/api/v1/presets': {}, '/api/v1/presets/validate': {} } },
      'GET /api/v1/presets': { presets: [preset] },
      'POST /api/v1/presets/validate': (body: unknown) => ({ valid: true, problems: [], preset: { ...(body as object), family: 'SD1', vram_weights_mb: 2048 } }),
      'POST /api/v1/presets': (body: unknown) => [201, { ...(body as object), family: 'SD1', vram_weights_mb: 2048 }],
    });
    render(<App api={new ApiClient('', f.fn)} />);
    fireEvent.click(screen.getByRole('tab', { name: 'Models' }));
    expect(await screen.findByText('Fast SD1')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'New preset' }));
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'Mine' } });
    fireEvent.change(screen.getByLabelText('Checkpoint (file or diffusers folder)'), { target: { value: '/m/sd1' } });
    await waitFor(() => expect(screen.getByTestId('preset-check').textContent).toMatch(/valid.*family SD1.*weights 2\.0 GB · predicted ≈3\.0 GB at 512×512/), { timeout: 3000 });
    fireEvent.click(screen.getByRole('button', { name: 'Save preset' }));
    await waitFor(() => expect(f.calls.some((c) => c.method === 'POST' && c.url.endsWith('/api/v1/presets'))).toBe(true));
    const saved = f.calls.find((c) => c.method === 'POST' && c.url.endsWith('/api/v1/presets'))!.body;
    expect(saved).toEqual({ type: 'image', name: 'Mine', description: '', loras: [], params: {}, checkpoint: '/m/sd1' });
  });

  it('a preset fills the Generate form', async () => {
    const preset = { type: 'image', name: 'Fast SD1', checkpoint: '/m/sd1', loras: [{ path: '/m/Lora/foxy.safetensors', weight: 0.5 }], params: { steps: 8, cfg: 3, width: 640, height: 384 }, family: 'SD1', vram_weights_mb: 2048 };
    const f = server({ 'GET /api/v1/openapi.json': { paths: { '/api/v1/presets': {} } }, 'GET /api/v1/presets': { presets: [preset] } });
    render(<App api={new ApiClient('', f.fn)} />);
    const picker = await screen.findByLabelText('Preset');
    await waitFor(() => expect(within(picker).getByText(/Fast SD1/)).toBeTruthy());
    fireEvent.change(picker, { target: { value: 'Fast SD1' } });
    expect((screen.getByTestId('steps') as HTMLInputElement).value).toBe('8');
    expect((screen.getByTestId('width') as HTMLInputElement).value).toBe('640');
    expect((screen.getByLabelText('Prompt') as HTMLTextAreaElement).value).toBe('<lora:foxy:0.5>');
    expect((screen.getByTestId('model-select') as HTMLSelectElement).value).toBe('sd1');
  });
});
