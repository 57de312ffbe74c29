// Server-Sent Events from `easel serve` as JobEvents: a thin wrapper over EventSource that
// listens for every event type the server sends and reconnects (EventSource does by itself;
// `onState` reports it). Returns a function that closes the stream.
import { jobEvent } from './normalize';
import type { JobEvent } from './types';

export const EVENT_TYPES = [
  'hello', 'queued', 'running', 'started', 'progress', 'image', 'retry', 'cancel_requested',
  'succeeded', 'failed', 'cancelled', 'end', 'worker',
];

export type StreamState = 'connecting' | 'open' | 'error';

export function subscribe(
  url: string,
  onEvent: (e: JobEvent) => void,
  onState?: (s: StreamState) => void,
  factory: (url: string) => EventSource = (u) => new EventSource(u),
): () => void {
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
    let data: unknown = {};
    try {
      data = JSON.parse(String(m.data));
    } catch {
      return;
    }
    onEvent(jobEvent(type, data));
  };
  for (const t of EVENT_TYPES) es.addEventListener(t, handler(t) as EventListener);
  es.onmessage = handler('message');
  return () => es.close();
}
