// The assistant sidebar: the SSE parser, the transcript reducer, set_params -> form, and the
// sidebar against a scripted server (fake fetch answering the assistant routes with SSE).
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { assistantEvent } from '../src/api/assistant';
import { ApiClient } from '../src/api/client';
import { SseParser } from '../src/api/sse';
import { App } from '../src/App';
import { applyAssistantParams, applyEvent, itemsOfMessages, type ChatItem } from '../src/lib/chat';
import { defaultForm } from '../src/lib/form';
import { fakeFetch, sseResponse } from './fake_server';

describe('SseParser', () => {
  it('parses events split anywhere, CRLF, comments and multi-line data', () => {
    const p = new SseParser();
    const text = ': hello\r\nevent: delta\r\ndata: {"text":"a"}\r\n\r\nevent: done\ndata: line1\ndata: line2\nid: 7\n\ndata: plain\n\n';
    const got = [];
    for (let i = 0; i < text.length; i += 3) got.push(...p.push(text.slice(i, i + 3)));
    expect(got).toEqual([
      { event: 'delta', data: '{"text":"a"}', id: '' },
      { event: 'done', data: 'line1\nline2', id: '7' },
      { event: 'message', data: 'plain', id: '7' },
    ]);
  });
});

describe('transcript', () => {
  it('streams text, adds tool cards with their results and closes on done', () => {
    let items: ChatItem[] = [];
    const ev = (type: string, data: unknown) => assistantEvent(type, JSON.stringify(data))!;
    items = applyEvent(items, ev('delta', { text: 'Let me ' }));
    items = applyEvent(items, ev('delta', { text: 'look.' }));
    expect(items).toMatchObject([{ kind: 'assistant', text: 'Let me look.', streaming: true }]);
    items = applyEvent(items, ev('tool_call', { id: 'c1', name: 'get_styles', arguments: '{"query":"ink"}' }));
    expect(items[0]).toMatchObject({ streaming: false });
    expect(items[1]).toMatchObject({ kind: 'tool', name: 'get_styles', args: { query: 'ink' }, status: 'running' });
    items = applyEvent(items, ev('tool_result', { id: 'c1', name: 'get_styles', result: { styles: ['ink wash'] } }));
    expect(items[1]).toMatchObject({ status: 'done', result: { styles: ['ink wash'] } });
    items = applyEvent(items, ev('delta', { text: 'Found one.' }));
    expect(items[2]).toMatchObject({ kind: 'assistant', text: 'Found one.' });
    items = applyEvent(items, ev('confirm', { id: 'c2', name: 'queue_generation', arguments: { prompt: 'x' } }));
    expect(items[3]).toMatchObject({ kind: 'tool', id: 'c2', status: 'confirm' });
    items = applyEvent(items, ev('done', { message: { role: 'assistant', content: 'Found one.' }, finish_reason: 'stop' }));
    expect(items.filter((i) => i.kind === 'assistant' && i.streaming)).toEqual([]);
    expect(items).toHaveLength(4); // done does not repeat text that streamed
    items = applyEvent(items, ev('error', { code: 'llm_unavailable', message: 'the model stopped' }));
    expect(items[4]).toMatchObject({ kind: 'error', text: 'the model stopped (llm_unavailable)' });
  });

  it('rebuilds a stored session: results join their calls, an unanswered queue_generation waits', () => {
    const items = itemsOfMessages([
      { id: '1', role: 'user', content: 'hi', toolCalls: [], toolCallId: '', name: '', createdMs: 0 },
      { id: '2', role: 'assistant', content: '', toolCalls: [{ id: 'a', name: 'search_history', arguments: { q: 'fox' } }, { id: 'b', name: 'queue_generation', arguments: {} }], toolCallId: '', name: '', createdMs: 0 },
      { id: '3', role: 'tool', content: '{"images":[]}', toolCalls: [], toolCallId: 'a', name: 'search_history', createdMs: 0 },
    ]);
    expect(items.map((i) => i.kind)).toEqual(['user', 'tool', 'tool']);
    expect(items[1]).toMatchObject({ result: { images: [] }, status: 'done' });
    expect(items[2]).toMatchObject({ name: 'queue_generation', status: 'confirm' });
  });

  it('set_params fills only the fields given, LoRAs into the prompt', () => {
    const f = { ...defaultForm(), prompt: 'old', negativePrompt: 'keep me', steps: 20 };
    const { form, changed } = applyAssistantParams(f, { prompt: 'a watercolor lighthouse', steps: 12, width: 770, seed: 42, loras: [{ name: 'inky', weight: 0.6 }] });
    expect(form.prompt).toBe('a watercolor lighthouse, <lora:inky:0.6>');
    expect(form.negativePrompt).toBe('keep me');
    expect(form.steps).toBe(12);
    expect(form.width).toBe(768);
    expect(form.seedMode).toBe('fixed');
    expect(form.seed).toBe(42);
    expect(changed).toEqual(['prompt', 'width', 'steps', 'seed', 'LoRA inky']);
  });
});

const STATUS = { configured: true, kind: 'builtin', model: '/m/SmolLM2-135M-Instruct.Q4_1.gguf', loaded: false, context_length: 8192 };
const DOC = { paths: { '/api/v1/llm/status': {}, '/api/v1/assistant/sessions': {} } };
const SESSION = { id: 's1', title: 'watercolor', created_at: 1700000000000 };

function server(extra: Record<string, unknown>) {
  return fakeFetch({
    'GET /api/v1/openapi.json': DOC,
    'GET /api/v1/models': { models: [{ name: 'sd1', title: 'sd1', family: 'SD1', supported: true }], loras: [], default_model: 'sd1' },
    'GET /api/v1/jobs': { jobs: [], total: 0 },
    'GET /api/v1/llm/status': STATUS,
    'GET /api/v1/assistant/sessions': { sessions: [] },
    'POST /api/v1/assistant/sessions': [201, SESSION],
    'GET /api/v1/assistant/sessions/s1': { ...SESSION, messages: [] },
    ...extra,
  });
}

async function openSidebar() {
  fireEvent.keyDown(window, { key: 'a', code: 'KeyA', altKey: true });
  const side = await screen.findByRole('complementary', { name: 'Assistant' });
  return side;
}

describe('ChatSidebar', () => {
  it('says how to configure a model when none is', async () => {
    const f = server({ 'GET /api/v1/llm/status': { configured: false } });
    render(<App api={new ApiClient('', f.fn)} />);
    expect(screen.getByTestId('assistant')).toHaveProperty('hidden', true);
    const side = await openSidebar();
    expect(screen.getByTestId('assistant-toggle').getAttribute('aria-expanded')).toBe('true');
    await waitFor(() => expect(within(side).getByTestId('assistant-setup').textContent).toContain('easel serve --llm PATH'));
    expect((within(side).getByLabelText('Message the assistant') as HTMLTextAreaElement).disabled).toBe(true);
    fireEvent.keyDown(window, { key: 'a', code: 'KeyA', altKey: true });
    expect(screen.getByTestId('assistant')).toHaveProperty('hidden', true);
  });

  it('on a server without the assistant routes, says so', async () => {
    const f = server({ 'GET /api/v1/llm/status': undefined });
    render(<App api={new ApiClient('', f.fn)} />);
    await waitFor(() => expect(f.calls.some((c) => c.url.endsWith('/api/v1/models'))).toBe(true));
    expect(f.calls.some((c) => c.url.includes('/llm/'))).toBe(false); // nothing asked until opened
    const side = await openSidebar();
    await waitFor(() => expect(within(side).getByTestId('assistant-setup').textContent).toContain('no assistant'));
    expect(f.calls.some((c) => c.url.includes('/assistant/'))).toBe(false);
  });

  it('streams an answer with a tool call, and set_params changes the generation form', async () => {
    const f = server({
      'POST /api/v1/assistant/sessions/s1/messages': () => sseResponse([
        ['delta', { text: 'Setting up ' }],
        ['delta', { text: 'a watercolor.' }],
        ['tool_call', { id: 'call_1', name: 'set_generation_params', arguments: '{"prompt":"a watercolor lighthouse","steps":12}' }],
        ['set_params', { params: { prompt: 'a watercolor lighthouse', steps: 12, cfg_scale: 5.5 } }],
        ['tool_result', { id: 'call_1', name: 'set_generation_params', result: { ok: true } }],
        ['delta', { text: 'Done: press Generate.' }],
        ['done', { message: { id: 'm2', role: 'assistant', content: 'Done: press Generate.' }, finish_reason: 'stop' }],
      ], 1),
    });
    render(<App api={new ApiClient('', f.fn)} />);
    const side = await openSidebar();
    const input = within(side).getByLabelText('Message the assistant') as HTMLTextAreaElement;
    await waitFor(() => expect(input.disabled).toBe(false));
    fireEvent.change(input, { target: { value: 'make it a watercolor lighthouse' } });
    fireEvent.keyDown(input, { key: 'Enter' });
    await waitFor(() => expect(within(side).getAllByTestId('assistant-text').map((e) => e.textContent)).toEqual(['Assistant: Setting up a watercolor.', 'Assistant: Done: press Generate.']));
    const card = within(side).getByTestId('tool-card');
    expect(card.textContent).toContain('set_generation_params');
    expect(within(card).getByTestId('tool-args').textContent).toContain('"steps": 12');
    expect(within(card).getByTestId('tool-result').textContent).toContain('"ok": true');
    expect(within(side).getByTestId('params-card').textContent).toContain('prompt, steps, CFG scale');
    // The form changed.
    expect((screen.getByLabelText('Prompt') as HTMLTextAreaElement).value).toBe('a watercolor lighthouse');
    expect((screen.getByTestId('steps') as HTMLInputElement).value).toBe('12');
    expect((screen.getByTestId('cfg') as HTMLInputElement).value).toBe('5.5');
    // The session was made with the message as its title, and the message sent to it.
    expect(f.calls.find((c) => c.method === 'POST' && c.url.endsWith('/assistant/sessions'))!.body).toEqual({ title: 'make it a watercolor lighthouse' });
    const sent = f.calls.find((c) => c.url.endsWith('/s1/messages'))!;
    expect(sent.body).toEqual({ content: 'make it a watercolor lighthouse' });
    expect(sent.headers.Accept).toBe('text/event-stream');
  });

  it('asks before queueing: Approve calls /confirm and shows the job', async () => {
    const f = server({
      'GET /api/v1/assistant/sessions': { sessions: [SESSION] },
      'POST /api/v1/assistant/sessions/s1/messages': () => sseResponse([
        ['tool_call', { id: 'call_q', name: 'queue_generation', arguments: { prompt: 'a fox' } }],
        ['confirm', { id: 'call_q', name: 'queue_generation', arguments: { prompt: 'a fox' } }],
        ['done', { message: null, finish_reason: 'tool_calls' }],
      ]),
      'POST /api/v1/assistant/sessions/s1/confirm': { job_id: 'j_00000000000000c1', result: { queued: true } },
      'GET /api/v1/jobs/j_00000000000000c1': { id: 'j_00000000000000c1', state: 'queued', request: { prompt: 'a fox' } },
    });
    render(<App api={new ApiClient('', f.fn)} />);
    const side = await openSidebar();
    await waitFor(() => expect((within(side).getByLabelText('Chat session') as HTMLSelectElement).value).toBe('s1'));
    const input = within(side).getByLabelText('Message the assistant');
    await waitFor(() => expect((input as HTMLTextAreaElement).disabled).toBe(false));
    fireEvent.change(input, { target: { value: 'queue it' } });
    fireEvent.click(within(side).getByRole('button', { name: 'Send' }));
    const approve = await within(side).findByRole('button', { name: 'Approve' });
    expect(within(side).getByTestId('tool-card').textContent).toContain('needs your approval');
    await act(async () => fireEvent.click(approve));
    await waitFor(() => expect(within(side).getByTestId('tool-card').textContent).toContain('j_00000000000000c1'));
    expect(f.calls.find((c) => c.url.endsWith('/s1/confirm'))!.body).toEqual({ call_id: 'call_q', approve: true });
    expect(within(side).queryByRole('button', { name: 'Approve' })).toBeNull();
    await waitFor(() => expect(screen.getByRole('tab', { name: 'Generate' }).getAttribute('aria-selected')).toBe('true'));
  });

  it('Reject declines, and errors (stream and HTTP) are shown', async () => {
    const f = server({
      'POST /api/v1/assistant/sessions/s1/messages': () => sseResponse([
        ['confirm', { id: 'call_q', name: 'queue_generation', arguments: { prompt: 'a fox' } }],
        ['error', { code: 'tool_budget', message: 'too many tool calls in one turn (8)' }],
      ]),
      'POST /api/v1/assistant/sessions/s1/confirm': { result: 'declined' },
    });
    render(<App api={new ApiClient('', f.fn)} />);
    const side = await openSidebar();
    const input = within(side).getByLabelText('Message the assistant') as HTMLTextAreaElement;
    await waitFor(() => expect(input.disabled).toBe(false));
    fireEvent.change(input, { target: { value: 'go' } });
    fireEvent.keyDown(input, { key: 'Enter' });
    await waitFor(() => expect(within(side).getByRole('alert').textContent).toContain('too many tool calls in one turn (8) (tool_budget)'));
    fireEvent.click(within(side).getByRole('button', { name: 'Reject' }));
    await waitFor(() => expect(within(side).getByTestId('tool-card').textContent).toContain('declined'));
    expect(f.calls.find((c) => c.url.endsWith('/s1/confirm'))!.body).toEqual({ call_id: 'call_q', approve: false });
  });

  it('"Fill the form" makes the model call set_generation_params first', async () => {
    const f = server({
      'POST /api/v1/assistant/sessions/s1/messages': () => sseResponse([
        ['tool_call', { id: 'c', name: 'set_generation_params', arguments: { prompt: 'ink fox' } }],
        ['set_params', { params: { prompt: 'ink fox' } }],
        ['tool_result', { id: 'c', name: 'set_generation_params', result: { status: 'declined' } }],
        ['done', { message: null, finish_reason: 'stop' }],
      ]),
    });
    render(<App api={new ApiClient('', f.fn)} />);
    const side = await openSidebar();
    const input = within(side).getByLabelText('Message the assistant') as HTMLTextAreaElement;
    await waitFor(() => expect(input.disabled).toBe(false));
    fireEvent.change(input, { target: { value: 'an ink fox' } });
    fireEvent.click(within(side).getByRole('button', { name: 'Fill the form' }));
    await waitFor(() => expect((screen.getByLabelText('Prompt') as HTMLTextAreaElement).value).toBe('ink fox'));
    expect(f.calls.find((c) => c.url.endsWith('/s1/messages'))!.body).toEqual({ content: 'an ink fox', tool_choice: 'set_generation_params' });
    expect(within(side).getByTestId('tool-card').textContent).toContain('declined'); // {status: "declined"} reads as declined
  });

  it('shows a refused message (HTTP error) in the transcript', async () => {
    const f = server({
      'POST /api/v1/assistant/sessions/s1/messages': [503, { error: { code: 'unavailable', message: 'the LLM worker is starting: retry in a few seconds' } }],
    });
    render(<App api={new ApiClient('', f.fn)} />);
    const side = await openSidebar();
    const input = within(side).getByLabelText('Message the assistant') as HTMLTextAreaElement;
    await waitFor(() => expect(input.disabled).toBe(false));
    fireEvent.change(input, { target: { value: 'hello' } });
    fireEvent.keyDown(input, { key: 'Enter' });
    await waitFor(() => expect(within(side).getByRole('alert').textContent).toContain('the LLM worker is starting'));
  });
});
