// A fetch() stand-in answering like `easel serve`, for component and client tests: routes are
// "METHOD /path" (query ignored) -> JSON body (or [status, body]); unknown routes are 404 in
// the native error shape. Records every call.
export type Route = unknown | [number, unknown] | ((body: unknown, url: string) => unknown);

export function fakeFetch(routes: Record<string, Route>) {
  const calls: { method: string; url: string; body: unknown }[] = [];
  const fn = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ method, url, body });
    const path = url.replace(/^https?:\/\/[^/]+/, '').split('?')[0];
    const key = `${method} ${path}`;
    let r: Route | undefined = routes[key];
    if (r === undefined) {
      const hit = Object.keys(routes).find((k) => k.includes('*') && new RegExp(`^${k.replace(/[.?+^$[\]\\(){}|-]/g, '\\$&').replace(/\*/g, '[^/]+')}$`).test(key));
      r = hit ? routes[hit] : undefined;
    }
    if (typeof r === 'function') r = (r as (b: unknown, u: string) => unknown)(body, url);
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
