// The creative assistant's API (see /api/v1/assistant and /api/v1/llm in the server's
// openapi.json): the LLM's status, chat sessions kept by the server, a message whose answer
// streams back as events (text deltas, tool calls and results, form parameters, requests for
// confirmation), and the confirm call. Raw JSON is read here only; the sidebar sees the
// types below.
import { ApiError, type ApiClient } from './client';
import { arr, num, obj, str } from './normalize';
import { readEventStream } from './sse';

export interface LlmStatus {
  available: boolean; // the server has the LLM routes at all
  configured: boolean; // a model is configured (easel serve --llm PATH)
  kind: string;
  model: string;
  loaded: boolean;
  contextLength: number;
}

export interface ChatSession {
  id: string;
  title: string;
  createdMs: number;
  updatedMs: number;
}

export interface ChatToolCall {
  id: string;
  name: string;
  arguments: unknown; // parsed JSON when the text parses, else the text
}

export interface ChatMessage {
  id: string;
  role: 'user' | 'assistant' | 'tool' | 'system';
  content: string;
  toolCalls: ChatToolCall[];
  toolCallId: string;
  name: string;
  createdMs: number;
}

// What the form takes from set_params (A1111 field names, as jobs).
export interface AssistantParams {
  prompt?: string;
  negative_prompt?: string;
  width?: number;
  height?: number;
  steps?: number;
  cfg_scale?: number;
  sampler_name?: string;
  scheduler?: string;
  seed?: number;
  model?: string;
  loras?: { name: string; weight: number }[];
  style?: string;
}

export type AssistantEvent =
  | { type: 'delta'; text: string }
  | { type: 'tool_call'; id: string; name: string; arguments: unknown }
  | { type: 'tool_result'; id: string; name: string; result: unknown }
  | { type: 'set_params'; params: AssistantParams }
  | { type: 'confirm'; id: string; name: string; arguments: unknown }
  | { type: 'done'; message: ChatMessage | null; finishReason: string }
  | { type: 'error'; code: string; message: string };

export interface ConfirmResult {
  jobId: string;
  result: unknown;
}

// A time as ms: the server may send epoch ms, epoch seconds or an ISO string.
function timeMs(v: unknown): number {
  if (typeof v === 'string' && v && !/^\d+(\.\d+)?$/.test(v)) {
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : 0;
  }
  const n = num(v);
  return n > 0 && n < 1e11 ? n * 1000 : n;
}

// Tool arguments arrive as JSON text (OpenAI) or as an object.
export function parseArgs(v: unknown): unknown {
  if (typeof v !== 'string') return v ?? {};
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

export function session(v: unknown): ChatSession {
  const s = obj(v);
  return { id: str(s.id), title: str(s.title), createdMs: timeMs(s.created_at), updatedMs: timeMs(s.updated_at ?? s.created_at) };
}

export function message(v: unknown): ChatMessage {
  const m = obj(v);
  const role = str(m.role, 'assistant');
  return {
    id: str(m.id ?? ''),
    role: (['user', 'assistant', 'tool', 'system'].includes(role) ? role : 'assistant') as ChatMessage['role'],
    content: typeof m.content === 'string' ? m.content : m.content == null ? '' : JSON.stringify(m.content),
    toolCalls: arr(m.tool_calls).map((x) => {
      const c = obj(x);
      const fn = obj(c.function);
      return { id: str(c.id), name: str(fn.name, str(c.name)), arguments: parseArgs(fn.arguments ?? c.arguments) };
    }),
    toolCallId: str(m.tool_call_id),
    name: str(m.name),
    createdMs: timeMs(m.created_at),
  };
}

function params(v: unknown): AssistantParams {
  const p = obj(v);
  const out: AssistantParams = {};
  for (const k of ['prompt', 'negative_prompt', 'sampler_name', 'scheduler', 'model', 'style'] as const)
    if (typeof p[k] === 'string') out[k] = p[k] as string;
  for (const k of ['width', 'height', 'steps', 'cfg_scale', 'seed'] as const) {
    const n = num(p[k], NaN);
    if (Number.isFinite(n)) out[k] = n;
  }
  if (Array.isArray(p.loras))
    out.loras = arr(p.loras).map((x) => ({ name: str(obj(x).name), weight: num(obj(x).weight, 1) })).filter((l) => l.name);
  return out;
}

// One SSE message of POST .../messages as an AssistantEvent (null: unknown or unreadable).
export function assistantEvent(type: string, raw: string): AssistantEvent | null {
  let d: Record<string, unknown>;
  try {
    d = obj(JSON.parse(raw));
  } catch {
    return null;
  }
  switch (type) {
    case 'delta':
      return { type, text: str(d.text) };
    case 'tool_call':
      return { type, id: str(d.id), name: str(d.name), arguments: parseArgs(d.arguments) };
    case 'tool_result':
      return { type, id: str(d.id), name: str(d.name), result: parseArgs(d.result) };
    case 'set_params':
      return { type, params: params(d.params) };
    case 'confirm':
      return { type, id: str(d.id), name: str(d.name), arguments: parseArgs(d.arguments) };
    case 'done':
      return { type, message: d.message ? message(d.message) : null, finishReason: str(d.finish_reason) };
    case 'error':
      return { type, code: str(d.code), message: str(d.message, 'the assistant failed') };
    default:
      return null;
  }
}

export class AssistantApi {
  constructor(readonly api: ApiClient) {}

  // The LLM's state; `available: false` on a server without the LLM routes. Asked even when
  // openapi.json does not list the route (only when the sidebar opens: an older server's 404
  // is then the one console line).
  async status(): Promise<LlmStatus> {
    const none: LlmStatus = { available: false, configured: false, kind: '', model: '', loaded: false, contextLength: 0 };
    try {
      const s = obj(await this.api.call('GET', '/api/v1/llm/status'));
      return {
        available: true, configured: s.configured === true, kind: str(s.kind), model: str(s.model),
        loaded: s.loaded === true, contextLength: num(s.context_length),
      };
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501)) return none;
      throw e;
    }
  }

  async sessions(): Promise<ChatSession[]> {
    const r = obj(await this.api.call('GET', '/api/v1/assistant/sessions'));
    return arr(r.sessions).map(session).filter((s) => s.id).sort((a, b) => b.updatedMs - a.updatedMs);
  }

  async createSession(title: string): Promise<ChatSession> {
    return session(await this.api.call('POST', '/api/v1/assistant/sessions', { title }));
  }

  async messages(id: string): Promise<ChatMessage[]> {
    const r = obj(await this.api.call('GET', `/api/v1/assistant/sessions/${encodeURIComponent(id)}`));
    return arr(r.messages).map(message);
  }

  async deleteSession(id: string): Promise<void> {
    await this.api.call('DELETE', `/api/v1/assistant/sessions/${encodeURIComponent(id)}`);
  }

  // Sends a message; the answer's events go to `onEvent` as they stream. Resolves when the
  // stream ends. A refused request throws ApiError; a failure mid-stream is an `error` event.
  // `toolChoice` names a tool the model must call first (e.g. set_generation_params).
  async send(id: string, content: string, onEvent: (e: AssistantEvent) => void, signal?: AbortSignal, toolChoice?: string): Promise<void> {
    const body: Record<string, unknown> = { content };
    if (toolChoice) body.tool_choice = toolChoice;
    const res = await this.api.send('POST', `/api/v1/assistant/sessions/${encodeURIComponent(id)}/messages`, body, 'text/event-stream', signal);
    if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      // A server that answers the whole turn as JSON: its final message.
      const m = obj(JSON.parse((await res.text()) || '{}'));
      const msg = m.message ? message(m.message) : message(m);
      if (msg.content) onEvent({ type: 'delta', text: msg.content });
      onEvent({ type: 'done', message: msg, finishReason: str(m.finish_reason) });
      return;
    }
    await readEventStream(res, (m) => {
      const ev = assistantEvent(m.event, m.data);
      if (ev) onEvent(ev);
    }, signal);
  }

  async confirm(id: string, callId: string, approve: boolean): Promise<ConfirmResult> {
    const r = obj(await this.api.call('POST', `/api/v1/assistant/sessions/${encodeURIComponent(id)}/confirm`, { call_id: callId, approve }));
    return { jobId: str(r.job_id), result: r.result ?? null };
  }
}
