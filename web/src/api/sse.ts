// Server-Sent Events from `easel serve`, two ways:
//   - `subscribe`: the queue's / a job's stream as JobEvents. Without an API key it uses
//     EventSource (which reconnects by itself); with a key it reads the stream with fetch(),
//     since EventSource cannot send an Authorization header, and reconnects itself.
//   - `readEventStream`: the events of one fetch() response (e.g. the assistant's POST
//     .../messages, which EventSource cannot make at all), parsed by `SseParser`.
// `onState` reports connecting / open / error. `subscribe` returns a function that closes it.
import { jobEvent } from './normalize';
import type { JobEvent } from './types';

export const EVENT_TYPES = [
  'hello', 'queued', 'running', 'started', 'progress', 'image', 'retry', 'cancel_requested',
  'succeeded', 'failed', 'cancelled', 'end', 'worker',
];

export type StreamState = 'connecting' | 'open' | 'error';

export interface SseMessage {
  event: string; // "message" when the server named none
  data: string;
  id: string;
}

// The text/event-stream format (WHATWG HTML §9.2): lines "field: value", a blank line ends an
// event, "data" lines join with "\n", lines starting with ":" are comments. Fed in chunks
// that may split lines anywhere.
export class SseParser {
  private buf = '';
  private event = '';
  private data: string[] = [];
  private id = '';

  push(chunk: string): SseMessage[] {
    this.buf += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone "\r" at the end may be the first half of "\r\n": wait for more.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      if (line === '') {
        if (this.data.length) out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
        this.event = '';
        this.data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
      else if (field === 'id') this.id = value;
    }
    return out;
  }
}

// Reads every event of a streaming response until it ends (or `signal` aborts).
export async function readEventStream(res: Response, onMessage: (m: SseMessage) => void, signal?: AbortSignal): Promise<void> {
  if (!res.body) {
    // No streaming body (old browsers, some test doubles): parse the whole text.
    const p = new SseParser();
    for (const m of p.push((await res.text()) + '\n\n')) onMessage(m);
    return;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  const stop = () => void reader.cancel().catch(() => {});
  signal?.addEventListener('abort', stop);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const m of parser.push(decoder.decode(value, { stream: true }))) onMessage(m);
    }
    for (const m of parser.push(decoder.decode() + '\n\n')) onMessage(m);
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}

function toJobEvent(type: string, raw: string): JobEvent | null {
  try {
    return jobEvent(type, JSON.parse(raw));
  } catch {
    return null;
  }
}

export interface SubscribeOptions {
  headers?: Record<string, string>; // set: read with fetch() (an API key), else EventSource
  fetchFn?: typeof fetch;
  factory?: (url: string) => EventSource;
  retryMs?: number;
}

export function subscribe(
  url: string,
  onEvent: (e: JobEvent) => void,
  onState?: (s: StreamState) => void,
  opts: SubscribeOptions | ((url: string) => EventSource) = {},
): () => void {
  const o: SubscribeOptions = typeof opts === 'function' ? { factory: opts } : opts;
  if (o.headers) return subscribeFetch(url, onEvent, onState, o);
  const factory = o.factory ?? ((u: string) => new EventSource(u));
  let es: EventSource;
  try {
    es = factory(url);
  } catch {
    onState?.('error');
    return () => {};
  }
  onState?.('connecting');
  es.onopen = () => onState?.('open');
  es.onerror = () => onState?.('error');
  const handler = (type: string) => (m: MessageEvent) => {
    const ev = toJobEvent(type, String(m.data));
    if (ev) onEvent(ev);
  };
  for (const t of EVENT_TYPES) es.addEventListener(t, handler(t) as EventListener);
  es.onmessage = handler('message');
  return () => es.close();
}

// The same stream through fetch(), with headers; reconnects after an error or an end.
function subscribeFetch(url: string, onEvent: (e: JobEvent) => void, onState: ((s: StreamState) => void) | undefined, o: SubscribeOptions): () => void {
  const ctrl = new AbortController();
  const fetchFn = o.fetchFn ?? ((...a: Parameters<typeof fetch>) => fetch(...a));
  const loop = async () => {
    while (!ctrl.signal.aborted) {
      onState?.('connecting');
      try {
        const res = await fetchFn(url, { headers: { Accept: 'text/event-stream', ...o.headers }, signal: ctrl.signal });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        onState?.('open');
        await readEventStream(res, (m) => {
          const ev = toJobEvent(m.event, m.data);
          if (ev) onEvent(ev);
        }, ctrl.signal);
      } catch {
        /* below: error, then retry */
      }
      if (ctrl.signal.aborted) return;
      onState?.('error');
      await new Promise((r) => setTimeout(r, o.retryMs ?? 3000));
    }
  };
  void loop();
  return () => ctrl.abort();
}
