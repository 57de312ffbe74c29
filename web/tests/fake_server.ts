// A fetch() stand-in answering like `easel serve`, for component and client tests: routes are
// "METHOD /path" (query ignored) -> JSON body (or [status, body], or a ready Response, e.g.
// an SSE stream from `sseResponse`); unknown routes are 404 in the native error shape.
// Records every call with its headers.
export type Route = unknown | [number, unknown] | ((body: unknown, url: string) => unknown);

export function fakeFetch(routes: Record<string, Route>) {
  const calls: { method: string; url: string; body: unknown; headers: Record<string, string> }[] = [];
  const fn = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ method, url, body, headers: { ...((init?.headers as Record<string, string>) ?? {}) } });
    const path = url.replace(/^https?:\/\/[^/]+/, '').split('?')[0];
    const key = `${method} ${path}`;
    let r: Route | undefined = routes[key];
    if (r === undefined) {
      const hit = Object.keys(routes).find((k) => k.includes('*') && new RegExp(`^${k.replace(/[.?+^$[\]\\(){}|-]/g, '\\$&').replace(/\*/g, '[^/]+')}$`).test(key));
      r = hit ? routes[hit] : undefined;
    }
    if (typeof r === 'function') r = (r as (b: unknown, u: string) => unknown)(body, url);
    if (r instanceof Promise) r = await r;
    if (r instanceof Response) return r;
    let status = 200;
    let payload: unknown = r;
    if (r === undefined) {
      status = 404;
      payload = { error: { code: 'not_found', message: `no route ${key}`, status: 404 } };
    } else if (Array.isArray(r) && r.length === 2 && typeof r[0] === 'number') {
      [status, payload] = r as [number, unknown];
    }
    return new Response(JSON.stringify(payload), { status, headers: { 'Content-Type': 'application/json' } });
  };
  return { fn: fn as typeof fetch, calls };
}

// A text/event-stream response with these events, delivered in small chunks (split inside
// lines, as a network does), each chunk after `delayMs`.
export function sseResponse(events: [string, unknown][], delayMs = 0, chunk = 17): Response {
  const text = events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join('');
  const bytes = new TextEncoder().encode(text);
  const body = new ReadableStream<Uint8Array>({
    async start(ctrl) {
      for (let i = 0; i < bytes.length; i += chunk) {
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        ctrl.enqueue(bytes.slice(i, i + chunk));
      }
      ctrl.close();
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

export const IMAGE = {
  id: 'i_00000000000000a1',
  job_id: 'j_00000000000000b1',
  url: '/api/v1/images/i_00000000000000a1/file',
  width: 64,
  height: 64,
  seed: 1234,
  prompt: 'a red fox in snow, (detailed:1.2) <lora:foxy:0.7>',
  negative_prompt: 'blurry',
  model: 'sd1',
  sampler: 'euler_ancestral',
  scheduler: 'karras',
  steps: 2,
  cfg_scale: 6.5,
  loras: [{ name: 'foxy', weight: 0.7 }],
  tags: [],
  params: { clip_skip: 2 },
  timings: {},
  created_ms: 1700000000000,
};
