// The assistant sidebar's transcript as a list of items (what the user wrote, the model's
// text, one card per tool call with its arguments and result, the form parameters it set,
// errors), built from a session's stored messages and then from the live events of a turn;
// and set_params -> the Generate form. Pure functions, tested in tests/chat.test.tsx.
import type { AssistantEvent, AssistantParams, ChatMessage } from '../api/assistant';
import type { JobRequest } from '../api/types';
import { applyRequest, type FormState } from './form';
import { setLora } from './prompt';

export type ToolStatus = 'running' | 'done' | 'confirm' | 'approved' | 'declined' | 'failed';

export type ChatItem =
  | { kind: 'user'; key: string; text: string }
  | { kind: 'assistant'; key: string; text: string; streaming: boolean }
  | { kind: 'tool'; key: string; id: string; name: string; args: unknown; result?: unknown; status: ToolStatus; jobId?: string }
  | { kind: 'params'; key: string; params: AssistantParams; changed: string[] }
  | { kind: 'error'; key: string; text: string };

let seq = 0;
const key = () => `c${++seq}`;

function lastIndex<T>(list: T[], pred: (x: T) => boolean): number {
  for (let i = list.length - 1; i >= 0; i--) if (pred(list[i])) return i;
  return -1;
}

// A tool result saying the user declined ("declined", or {status: "declined"}).
function isDeclined(r: unknown): boolean {
  if (typeof r === 'string') return /declined/i.test(r);
  return !!r && typeof r === 'object' && (r as { status?: unknown }).status === 'declined';
}

// A stored session's messages as items: tool results join their calls' cards.
export function itemsOfMessages(messages: ChatMessage[]): ChatItem[] {
  const items: ChatItem[] = [];
  for (const m of messages) {
    if (m.role === 'system') continue;
    if (m.role === 'user') items.push({ kind: 'user', key: key(), text: m.content });
    else if (m.role === 'assistant') {
      if (m.content) items.push({ kind: 'assistant', key: key(), text: m.content, streaming: false });
      for (const c of m.toolCalls) items.push({ kind: 'tool', key: key(), id: c.id, name: c.name, args: c.arguments, status: 'done' });
    } else if (m.role === 'tool') {
      const card = [...items].reverse().find((i) => i.kind === 'tool' && i.id === m.toolCallId);
      let result: unknown = m.content;
      try {
        result = JSON.parse(m.content);
      } catch {
        /* text */
      }
      if (card && card.kind === 'tool') {
        card.result = result;
        if (isDeclined(result)) card.status = 'declined';
      }
    }
  }
  // A call with no result yet: still waiting for the user (queue_generation) or lost.
  for (const i of items) if (i.kind === 'tool' && i.result === undefined) i.status = i.name === 'queue_generation' ? 'confirm' : 'done';
  return items;
}

export function userItem(text: string): ChatItem {
  return { kind: 'user', key: key(), text };
}

export function errorItem(text: string): ChatItem {
  return { kind: 'error', key: key(), text };
}

// One live event onto the transcript (a new array; items changed are copied).
export function applyEvent(items: ChatItem[], ev: AssistantEvent, changed: string[] = []): ChatItem[] {
  const last = items[items.length - 1];
  const stopStreaming = (list: ChatItem[]) => list.map((i) => (i.kind === 'assistant' && i.streaming ? { ...i, streaming: false } : i));
  const updateTool = (id: string, patch: Partial<Extract<ChatItem, { kind: 'tool' }>>, fallback: Extract<ChatItem, { kind: 'tool' }>) => {
    const at = lastIndex(items, (i) => i.kind === 'tool' && i.id === id);
    if (at < 0) return [...stopStreaming(items), { ...fallback, ...patch }];
    const next = items.slice();
    next[at] = { ...(items[at] as Extract<ChatItem, { kind: 'tool' }>), ...patch };
    return next;
  };
  switch (ev.type) {
    case 'delta':
      if (!ev.text) return items;
      if (last && last.kind === 'assistant' && last.streaming) return [...items.slice(0, -1), { ...last, text: last.text + ev.text }];
      return [...items, { kind: 'assistant', key: key(), text: ev.text, streaming: true }];
    case 'tool_call':
      return [...stopStreaming(items), { kind: 'tool', key: key(), id: ev.id, name: ev.name, args: ev.arguments, status: 'running' }];
    case 'tool_result': {
      const declined = isDeclined(ev.result);
      const failed = !!ev.result && typeof ev.result === 'object' && 'error' in (ev.result as object);
      return updateTool(ev.id, { result: ev.result, status: declined ? 'declined' : failed ? 'failed' : 'done' }, { kind: 'tool', key: key(), id: ev.id, name: ev.name, args: {}, status: 'done' });
    }
    case 'confirm':
      return updateTool(ev.id, { status: 'confirm', args: ev.arguments }, { kind: 'tool', key: key(), id: ev.id, name: ev.name, args: ev.arguments, status: 'confirm' });
    case 'set_params':
      return [...stopStreaming(items), { kind: 'params', key: key(), params: ev.params, changed }];
    case 'done': {
      const out = stopStreaming(items);
      // Nothing streamed (a server that sends the whole message at the end): show it.
      if (ev.message?.content && !out.some((i, n) => n > lastIndex(out, (x) => x.kind === 'user') && i.kind === 'assistant'))
        out.push({ kind: 'assistant', key: key(), text: ev.message.content, streaming: false });
      // Calls still "running" got no result: the model moved on.
      return out.map((i) => (i.kind === 'tool' && i.status === 'running' ? { ...i, status: 'done' } : i));
    }
    case 'error':
      return [...stopStreaming(items), { kind: 'error', key: key(), text: ev.code ? `${ev.message} (${ev.code})` : ev.message }];
  }
}

// set_params onto the Generate form: the fields given change, nothing else. Returns the new
// form and the names of what changed (for the card).
export function applyAssistantParams(f: FormState, p: AssistantParams): { form: FormState; changed: string[] } {
  const req: Partial<JobRequest> = {};
  const changed: string[] = [];
  const take = <K extends keyof JobRequest>(k: K, v: JobRequest[K] | undefined, label: string) => {
    if (v === undefined) return;
    (req as Record<string, unknown>)[k] = v;
    changed.push(label);
  };
  take('prompt', p.prompt, 'prompt');
  take('negative_prompt', p.negative_prompt, 'negative prompt');
  take('width', p.width && p.width >= 64 ? Math.round(p.width / 8) * 8 : undefined, 'width');
  take('height', p.height && p.height >= 64 ? Math.round(p.height / 8) * 8 : undefined, 'height');
  take('steps', p.steps && p.steps >= 1 ? Math.round(p.steps) : undefined, 'steps');
  take('cfg_scale', p.cfg_scale, 'CFG scale');
  take('sampler_name', p.sampler_name, 'sampler');
  take('scheduler', p.scheduler, 'scheduler');
  take('model', p.model, 'model');
  let form = applyRequest(f, req);
  form = { ...form, preset: p.model || p.prompt !== undefined ? '' : f.preset };
  if (p.seed !== undefined) {
    form = p.seed >= 0 ? { ...form, seed: Math.floor(p.seed), seedMode: 'fixed' } : { ...form, seedMode: 'random' };
    changed.push('seed');
  }
  if (p.loras?.length) {
    let prompt = form.prompt;
    for (const l of p.loras) prompt = setLora(prompt, l.name, l.weight);
    form = { ...form, prompt };
    changed.push(`LoRA ${[...new Set(p.loras.map((l) => l.name))].join(' + ')}`);
  }
  return { form, changed };
}

// Arguments or a result as short readable text for a card.
export function preview(v: unknown, max = 600): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'string' ? v : JSON.stringify(v, null, 2);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
