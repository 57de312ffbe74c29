// Starts a real `easel serve` for the end-to-end tests: a temp data dir, a models dir with the
// tiny SD1 fixture (and a fixture LoRA), a free loopback port (--port 0 --port-file), then
// waits for /api/v1/health. When the server does not serve the web UI itself (no --web-dir
// yet), a small static server + proxy in this process serves web/dist and forwards the APIs,
// so the tests run either way (and always with an API key: the server then refuses the
// page itself without the key, so the UI is served by the proxy).
// Options: an API key; a language model for the assistant (--llm) when the binary takes one
// and the model file is there (EASEL_E2E_LLM, default: SmolLM2 in <build>/share/easel/models).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePng } from './png';

export const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(WEB_DIR, '..');

export interface Running {
  url: string; // what the browser opens
  apiUrl: string; // easel serve itself
  modelsDir: string; // the --models-dir (for library rescans)
  llm: string; // the --llm model file, "" when the assistant has none
  stop: () => Promise<void>;
  log: () => string;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms: number, log: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; server log:\n${log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function get(url: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type'] ?? '') }));
    }).on('error', reject);
  });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json', '.ico': 'image/x-icon',
};

// web/dist at /, with SPA fallback; /api, /sdapi and /v1 forwarded to easel (streams too).
function staticProxy(dist: string, apiPort: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (/^\/(api|sdapi|v1)\//.test(url)) {
      const up = http.request({ host: '127.0.0.1', port: apiPort, path: url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      req.pipe(up);
      return;
    }
    let file = path.join(dist, decodeURIComponent(url.split('?')[0]));
    if (!file.startsWith(dist) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(dist, 'index.html');
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export interface StartOptions {
  apiKey?: string;
  llm?: boolean; // try to give the server the SmolLM2 model
}

// The assistant's model for the e2e tests: EASEL_E2E_LLM ("" or "none": none), else SmolLM2
// beside the binary's build or the repo's build.
function findLlm(bin: string): string {
  const env = process.env.EASEL_E2E_LLM;
  if (env !== undefined) return env === 'none' ? '' : env;
  const name = 'SmolLM2-135M-Instruct.Q4_1.gguf';
  for (const dir of [path.join(path.dirname(bin), 'share/easel/models'), path.join(REPO, 'build/share/easel/models')])
    if (fs.existsSync(path.join(dir, name))) return path.join(dir, name);
  return '';
}

export async function startEasel(opts: StartOptions = {}): Promise<Running> {
  const bin = process.env.EASEL_BIN ?? path.join(REPO, 'build', 'easel');
  if (!fs.existsSync(bin)) throw new Error(`EASEL_BIN=${bin} does not exist: build easel first (or set EASEL_BIN)`);
  const dist = path.join(WEB_DIR, 'dist');
  if (!fs.existsSync(path.join(dist, 'index.html'))) throw new Error('web/dist is missing: run `npm run build` first');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'easel-e2e-'));
  const models = path.join(tmp, 'models');
  fs.mkdirSync(path.join(models, 'Lora'), { recursive: true });
  fs.symlinkSync(path.join(REPO, 'tests/fixtures/sd1'), path.join(models, 'sd1'));
  const lora = path.join(REPO, 'tests/fixtures/lora/kohya.safetensors');
  if (fs.existsSync(lora)) fs.symlinkSync(lora, path.join(models, 'Lora', 'tiny_style.safetensors'));
  // Previews beside the models (the library's sidecar convention): violet gradients.
  const preview = encodePng(64, 64, (x, y) => [120 + x, 80 + y, 220]);
  fs.writeFileSync(path.join(models, 'sd1.preview.png'), preview);
  fs.writeFileSync(path.join(models, 'Lora', 'tiny_style.preview.png'), preview);
  const portFile = path.join(tmp, 'port');
  const args = ['serve', '--host', '127.0.0.1', '--port', '0', '--port-file', portFile, '--data-dir', path.join(tmp, 'data'), '--models-dir', models, '--max-steps', '500'];
  const help = await new Promise<string>((resolve) => {
    const p = spawn(bin, ['serve', '--help']);
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.on('close', () => resolve(out));
    p.on('error', () => resolve(''));
  });
  const serverServesWeb = help.includes('--web-dir');
  if (serverServesWeb) args.push('--web-dir', dist);
  if (opts.apiKey) args.push('--api-key', opts.apiKey);
  let llm = '';
  if (opts.llm && /\s--llm\b/.test(help)) {
    llm = findLlm(bin);
    if (llm && fs.existsSync(llm)) args.push('--llm', llm);
    else llm = '';
  }
  let logText = '';
  // EASEL_E2E_GDB=1 runs the server under gdb, which prints a backtrace into the log if it crashes.
  const [cmd, argv] = process.env.EASEL_E2E_GDB === '1'
    ? ['gdb', ['-batch', '-ex', 'set pagination off', '-ex', 'handle SIGPIPE nostop noprint pass', '-ex', 'run', '-ex', 'thread apply all bt 12', '--args', bin, ...args]]
    : [bin, args];
  // EASEL_E2E_CORE_DIR=DIR: the server runs there with core dumps on (to debug a crash).
  const coreDir = process.env.EASEL_E2E_CORE_DIR;
  const child: ChildProcess = coreDir
    ? spawn('bash', ['-c', 'ulimit -c unlimited; exec "$@"', 'easel', cmd, ...argv], { cwd: coreDir, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  child.stdout?.on('data', (c) => (logText += c));
  child.stderr?.on('data', (c) => (logText += c));
  const log = () => logText.slice(-4000);
  let exited = false;
  child.on('exit', () => (exited = true));
  const port = await waitFor('the port file', async () => {
    if (exited) throw new Error('exited');
    const s = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8').trim() : '';
    return s ? Number(s) : undefined;
  }, 30_000, log).catch((e) => {
    child.kill('SIGKILL');
    throw e;
  });
  const apiUrl = `http://127.0.0.1:${port}`;
  await waitFor('a ready worker (/api/v1/health)', async () => ((await get(`${apiUrl}/api/v1/health`)).status === 200 ? true : undefined), 120_000, log);
  let url = apiUrl;
  let proxy: http.Server | null = null;
  const root = opts.apiKey ? { status: 401, body: '', type: '' } : await get(`${apiUrl}/`).catch(() => ({ status: 0, body: '', type: '' }));
  if (!(root.status === 200 && root.type.includes('html') && root.body.includes('id="root"'))) {
    proxy = await staticProxy(dist, port);
    const a = proxy.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    logText += `\n[e2e] easel serve does not serve web/dist at / yet: serving it from ${url} with a proxy\n`;
  }
  return {
    url,
    apiUrl,
    modelsDir: models,
    llm,
    log,
    stop: async () => {
      proxy?.closeAllConnections?.();
      proxy?.close();
      if (!exited) {
        child.kill('SIGTERM');
        await new Promise((r) => {
          const t = setTimeout(() => {
            child.kill('SIGKILL');
            r(null);
          }, 10_000);
          child.on('exit', () => {
            clearTimeout(t);
            r(null);
          });
        });
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
