// Playwright global setup: one `easel serve` for the whole run (see easel_server.ts). Its URL
// reaches the tests through process.env.EASEL_E2E_URL; the returned function stops it.
import fs from 'node:fs';
import path from 'node:path';
import { startEasel, WEB_DIR } from './easel_server';

export default async function globalSetup() {
  const s = await startEasel({ llm: true });
  process.env.EASEL_E2E_URL = s.url;
  process.env.EASEL_E2E_API = s.apiUrl;
  process.env.EASEL_E2E_MODELS = s.modelsDir;
  process.env.EASEL_E2E_LLM_MODEL = s.llm;
  fs.mkdirSync(process.env.WEB_SCREENSHOTS ?? path.join(WEB_DIR, 'screenshots'), { recursive: true });
  return async () => {
    if (process.env.EASEL_E2E_LOG) fs.writeFileSync(process.env.EASEL_E2E_LOG, s.log());
    await s.stop();
  };
}
