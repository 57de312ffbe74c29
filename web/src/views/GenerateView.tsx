// Generate: the prompt and every parameter on the left, the running job (live preview,
// progress, cancel) and its results on the right; img2img and inpainting below the prompt
// when an image is given. Ctrl+Enter generates, Esc cancels (see App.tsx for the keys).
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { errorMessage, isUnavailable } from '../api/client';
import type { Preset } from '../api/types';
import { AuthImg } from '../components/AuthImg';
import { ImageDrop, toPngDataUrl } from '../components/ImageDrop';
import { LoraPicker } from '../components/LoraPicker';
import { MaskCanvas, type MaskCanvasHandle } from '../components/MaskCanvas';
import { NumberField, SelectField } from '../components/Field';
import { ProgressBar } from '../components/ProgressBar';
import { PromptEditor } from '../components/PromptEditor';
import { ASPECTS, aspectOf, roundTo8, sizeForAspect, toRequest, type FormState, type Mode } from '../lib/form';
import { setLora } from '../lib/prompt';
import { useStore } from '../state';

const HIRES_UPSCALERS = ['Latent', 'Latent (bilinear)', 'Latent (nearest-exact)', 'Lanczos', 'Bicubic', 'Nearest'];
const FILL = [
  { value: '1', label: 'original' },
  { value: '0', label: 'fill' },
  { value: '2', label: 'latent noise' },
  { value: '3', label: 'latent nothing' },
];

// The preset's parameters and LoRAs onto the form; its checkpoint picks the catalog model
// with the same file name.
function applyPreset(f: FormState, p: Preset, modelNames: { name: string; title: string; path: string }[]): FormState {
  const next = { ...f, preset: p.name };
  const P = p.params;
  if (P.width) next.width = P.width;
  if (P.height) next.height = P.height;
  if (P.steps) next.steps = P.steps;
  if (P.cfg) next.cfg = P.cfg;
  if (P.sampler) next.sampler = P.sampler;
  if (P.scheduler) next.scheduler = P.scheduler;
  if (P.clip_skip) next.clipSkip = P.clip_skip;
  const base = (s: string) => s.replace(/\/+$/, '').split('/').pop() ?? s;
  const ck = p.checkpoint || p.diffusion_model;
  if (ck) {
    const hit = modelNames.find((m) => m.path === ck || base(m.title) === base(ck) || base(m.name) === base(ck).replace(/\.(safetensors|ckpt)$/, ''));
    if (hit) next.model = hit.name;
  }
  for (const l of p.loras) next.prompt = setLora(next.prompt, base(l.path).replace(/\.safetensors$/, ''), l.weight);
  return next;
}

export function GenerateView() {
  const { api, form, setForm, models, modelsError, samplers, schedulers, jobs, currentJobId, setCurrentJobId, upsertJob, toast, view } = useStore();
  const [presets, setPresets] = useState<Preset[] | null>(null);
  const [busy, setBusy] = useState(false);
  const mask = useRef<MaskCanvasHandle>(null);
  const job = currentJobId ? jobs[currentJobId] : undefined;
  const active = job && (job.state === 'queued' || job.state === 'running');

  useEffect(() => {
    api.presets().then(setPresets).catch((e) => {
      setPresets(isUnavailable(e) ? null : []);
    });
  }, [api, view]);

  // After a reload the current job may be missing from the table: fetch it.
  useEffect(() => {
    if (currentJobId && !jobs[currentJobId]) api.job(currentJobId).then(upsertJob).catch(() => setCurrentJobId(''));
  }, [api, currentJobId, jobs, upsertJob, setCurrentJobId]);

  const set = useCallback(<K extends keyof FormState>(k: K, v: FormState[K]) => setForm((f) => ({ ...f, [k]: v })), [setForm]);
  const setEdit = useCallback((patch: Partial<FormState['edit']>) => setForm((f) => ({ ...f, edit: { ...f.edit, ...patch } })), [setForm]);
  const setHires = useCallback((patch: Partial<FormState['hires']>) => setForm((f) => ({ ...f, hires: { ...f.hires, ...patch } })), [setForm]);

  const generate = useCallback(async () => {
    if (busy) return;
    if (form.mode !== 'txt2img' && !form.edit.initImage) {
      toast('Drop an image first (or switch to txt2img).', 'error');
      return;
    }
    const maskPng = form.mode === 'inpaint' ? mask.current?.getMask() ?? null : null;
    if (form.mode === 'inpaint' && !maskPng && !form.edit.outpaint.some((v) => v > 0)) {
      toast('Paint the area to repaint, or add outpaint margins.', 'error');
      return;
    }
    setBusy(true);
    try {
      const j = await api.submit(toRequest(form, maskPng));
      upsertJob(j);
      setCurrentJobId(j.id);
    } catch (e) {
      toast(errorMessage(e), 'error');
    } finally {
      setBusy(false);
    }
  }, [api, busy, form, setCurrentJobId, toast, upsertJob]);

  const cancel = useCallback(async () => {
    if (!job || !active) return;
    try {
      upsertJob(await api.cancel(job.id));
      toast('Cancelling…');
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
  }, [api, job, active, toast, upsertJob]);

  // App.tsx sends these for Ctrl+Enter and Esc.
  useEffect(() => {
    const g = () => void generate();
    const c = () => void cancel();
    window.addEventListener('easel:generate', g);
    window.addEventListener('easel:cancel', c);
    return () => {
      window.removeEventListener('easel:generate', g);
      window.removeEventListener('easel:cancel', c);
    };
  }, [generate, cancel]);

  const modelOptions = useMemo(() => {
    const opts = (models?.models ?? []).map((m) => ({ value: m.name, label: `${m.name}${m.family && m.family !== 'unknown' ? ` · ${m.family}` : ''}${m.supported ? '' : ' (unsupported)'}` }));
    const fallback = models?.defaultModel || models?.models.find((m) => m.supported)?.name;
    return [{ value: '', label: fallback ? `Default (${fallback})` : 'Server default' }, ...opts];
  }, [models]);

  const lastSeed = job?.images[0]?.seed;
  const area = form.width * form.height;
  const aspect = aspectOf(form.width, form.height);

  const takeImage = async (url: string, name: string) => {
    try {
      const png = await toPngDataUrl(url);
      const img = new Image();
      img.onload = () =>
        setForm((f) => ({
          ...f,
          mode: f.mode === 'txt2img' ? 'img2img' : f.mode,
          width: roundTo8(Math.min(img.naturalWidth, 2048)),
          height: roundTo8(Math.min(img.naturalHeight, 2048)),
          edit: { ...f.edit, initImage: png, initName: name },
        }));
      img.src = png;
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
  };

  return (
    <div className="generate">
      <form
        className="panel params"
        aria-label="Generation parameters"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void generate();
        }}
      >
        <div className="mode-tabs" role="radiogroup" aria-label="Mode">
          {(['txt2img', 'img2img', 'inpaint'] as Mode[]).map((m) => (
            <label key={m} className={form.mode === m ? 'on' : ''}>
              <input type="radio" name="mode" value={m} checked={form.mode === m} onChange={() => set('mode', m)} />
              {m === 'txt2img' ? 'Text to image' : m === 'img2img' ? 'Image to image' : 'Inpaint / outpaint'}
            </label>
          ))}
        </div>
        <PromptEditor id="prompt" label="Prompt" value={form.prompt} onChange={(v) => set('prompt', v)} placeholder="a lighthouse on a cliff at dusk, (dramatic sky:1.2), <lora:name:0.8>" rows={4} onSubmit={() => void generate()} />
        <PromptEditor id="negative" label="Negative prompt" value={form.negativePrompt} onChange={(v) => set('negativePrompt', v)} placeholder="blurry, low quality" rows={2} onSubmit={() => void generate()} />

        {form.mode !== 'txt2img' ? (
          <section className="edit" aria-label="Init image">
            <ImageDrop label={form.edit.initImage ? 'Replace image…' : 'Drop an image here, paste, or choose a file…'} onImage={(u, n) => void takeImage(u, n)} testId="init-drop" />
            {form.edit.initImage ? (
              <button type="button" className="link" onClick={() => setEdit({ initImage: null, initName: '' })}>Remove image</button>
            ) : null}
            <div className="grid2">
              <NumberField label="Denoising strength" value={form.edit.denoise} min={0} max={1} step={0.01} slider onChange={(v) => setEdit({ denoise: v })} />
              {form.mode === 'inpaint' ? (
                <>
                  <NumberField label="Mask blur" value={form.edit.maskBlur} min={0} max={64} onChange={(v) => setEdit({ maskBlur: v })} />
                  <SelectField label="Masked content" value={String(form.edit.fill)} options={FILL} onChange={(v) => setEdit({ fill: Number(v) })} />
                  <div className="field">
                    <label className="inline">
                      <input type="checkbox" checked={form.edit.fullRes} onChange={(e) => setEdit({ fullRes: e.target.checked })} /> Inpaint at full resolution
                    </label>
                    {form.edit.fullRes ? <NumberField label="Padding" value={form.edit.padding} min={0} max={256} onChange={(v) => setEdit({ padding: v })} /> : null}
                  </div>
                </>
              ) : null}
            </div>
            {form.mode === 'inpaint' ? (
              <fieldset className="outpaint-fields">
                <legend>Outpaint (pixels to add)</legend>
                {(['Left', 'Right', 'Top', 'Bottom'] as const).map((side, i) => (
                  <NumberField key={side} label={side} value={form.edit.outpaint[i]} min={0} max={1024} step={8} onChange={(v) => {
                    const o = [...form.edit.outpaint] as [number, number, number, number];
                    o[i] = v;
                    setEdit({ outpaint: o });
                  }} />
                ))}
              </fieldset>
            ) : null}
          </section>
        ) : null}

        <div className="grid2">
          <SelectField label="Model" value={form.model} options={modelOptions} onChange={(v) => setForm((f) => ({ ...f, model: v, preset: '' }))} testId="model-select" />
          {presets !== null ? (
            <SelectField
              label="Preset"
              value={form.preset}
              options={[{ value: '', label: presets.length ? 'None' : 'No presets yet' }, ...presets.map((p) => ({ value: p.name, label: `${p.name}${p.family ? ` · ${p.family}` : ''}` }))]}
              onChange={(v) => {
                const p = presets.find((x) => x.name === v);
                setForm((f) => (p ? applyPreset(f, p, models?.models ?? []) : { ...f, preset: '' }));
              }}
            />
          ) : null}
        </div>
        {modelsError ? <p className="error">Models: {modelsError}</p> : null}

        <div className="grid2">
          <SelectField label="Sampler" value={form.sampler} options={samplers} onChange={(v) => set('sampler', v)} testId="sampler-select" />
          <SelectField label="Scheduler" value={form.scheduler} options={schedulers} onChange={(v) => set('scheduler', v)} />
          <NumberField label="Steps" value={form.steps} min={1} max={150} slider onChange={(v) => set('steps', v)} testId="steps" />
          <NumberField label="CFG scale" value={form.cfg} min={0} max={30} step={0.5} slider onChange={(v) => set('cfg', v)} testId="cfg" />
        </div>

        <fieldset className="size">
          <legend>Size</legend>
          <div className="aspects" role="group" aria-label="Aspect ratio">
            {ASPECTS.map((a) => (
              <button key={a.label} type="button" className={aspect === a.label ? 'on' : ''} aria-pressed={aspect === a.label} onClick={() => setForm((f) => ({ ...f, ...sizeForAspect(a.w, a.h, area) }))}>
                {a.label}
              </button>
            ))}
            <button type="button" aria-label="Swap width and height" onClick={() => setForm((f) => ({ ...f, width: f.height, height: f.width }))}>⇄</button>
          </div>
          <div className="grid2">
            <NumberField label="Width" value={form.width} min={64} max={2048} step={8} onChange={(v) => set('width', v)} testId="width" />
            <NumberField label="Height" value={form.height} min={64} max={2048} step={8} onChange={(v) => set('height', v)} testId="height" />
          </div>
        </fieldset>

        <fieldset className="seed">
          <legend>Seed</legend>
          <div className="row">
            <label className="inline">
              <input type="radio" name="seedmode" checked={form.seedMode === 'random'} onChange={() => set('seedMode', 'random')} /> Random
            </label>
            <label className="inline">
              <input type="radio" name="seedmode" checked={form.seedMode === 'fixed'} onChange={() => setForm((f) => ({ ...f, seedMode: 'fixed', seed: f.seed >= 0 ? f.seed : Math.floor(Math.random() * 2 ** 32) }))} /> Fixed
            </label>
            <input type="number" aria-label="Seed" data-testid="seed" min={-1} value={form.seed} disabled={form.seedMode === 'random'} onChange={(e) => Number.isFinite(e.target.valueAsNumber) && set('seed', e.target.valueAsNumber)} />
            <button type="button" disabled={lastSeed === undefined} title="Reuse the seed of the last image" onClick={() => lastSeed !== undefined && setForm((f) => ({ ...f, seed: lastSeed, seedMode: 'fixed' }))}>
              Reuse last
            </button>
          </div>
        </fieldset>

        <div className="grid2">
          <NumberField label="Batch size" value={form.batch} min={1} max={8} onChange={(v) => set('batch', v)} />
          <NumberField label="CLIP skip (0 = model default)" value={form.clipSkip} min={0} max={12} onChange={(v) => set('clipSkip', v)} />
        </div>

        <LoraPicker prompt={form.prompt} loras={models?.loras ?? []} onPrompt={(p) => set('prompt', p)} />

        {form.mode === 'txt2img' ? (
          <details className="hires" open={form.hires.enabled}>
            <summary>Hires fix</summary>
            <label className="inline">
              <input type="checkbox" checked={form.hires.enabled} onChange={(e) => setHires({ enabled: e.target.checked })} /> Upscale and refine
            </label>
            <div className="grid2">
              <NumberField label="Scale" value={form.hires.scale} min={1} max={4} step={0.25} onChange={(v) => setHires({ scale: v })} />
              <NumberField label="Second-pass steps (0 = same)" value={form.hires.steps} min={0} max={150} onChange={(v) => setHires({ steps: v })} />
              <SelectField label="Upscaler" value={form.hires.upscaler} options={HIRES_UPSCALERS.map((u) => ({ value: u, label: u }))} onChange={(v) => setHires({ upscaler: v })} />
              <NumberField label="Denoising" value={form.hires.denoise} min={0} max={1} step={0.05} onChange={(v) => setHires({ denoise: v })} />
            </div>
            {form.hires.enabled ? <p className="hint">Result: {Math.round(form.width * form.hires.scale)}×{Math.round(form.height * form.hires.scale)}</p> : null}
          </details>
        ) : null}

        <div className="actions sticky">
          <button type="submit" className="primary" disabled={busy} data-testid="generate" title="Ctrl+Enter">
            {busy ? 'Queueing…' : active ? 'Queue another' : 'Generate'} <kbd>Ctrl</kbd>+<kbd>Enter</kbd>
          </button>
          {active ? (
            <button type="button" className="danger" onClick={() => void cancel()} data-testid="cancel" title="Esc">
              Cancel <kbd>Esc</kbd>
            </button>
          ) : null}
        </div>
      </form>

      <section className={`panel result ${form.mode !== 'txt2img' && form.edit.initImage ? 'with-canvas' : ''}`} aria-label="Result">
        {form.mode !== 'txt2img' && form.edit.initImage ? (
          <div className="canvas-pane" aria-label="Init image">
            <h3>{form.mode === 'inpaint' ? 'Mask' : 'Init image'} <span className="muted">{form.edit.initName}</span></h3>
            {form.mode === 'inpaint' ? (
              <MaskCanvas ref={mask} image={form.edit.initImage} outpaint={form.edit.outpaint} />
            ) : (
              <img className="init-preview" src={form.edit.initImage} alt="Init image" />
            )}
          </div>
        ) : null}
        <div className="result-pane">
        {job ? (
          <>
            <ProgressBar job={job} />
            {job.state === 'failed' ? <p className="error" role="alert">Failed: {job.error}</p> : null}
            {job.state === 'cancelled' ? <p className="muted">Cancelled.</p> : null}
            <div className="result-images" data-testid="result-images">
              {job.images.length > 0 ? (
                job.images.map((im) => (
                  <a key={im.id} href={api.imageFileUrl(im.id)} target="_blank" rel="noreferrer" className="result-image">
                    <AuthImg src={api.imageFileUrl(im.id)} alt={`Result, seed ${im.seed}`} width={im.width} height={im.height} />
                    <span className="caption">seed {im.seed} · {im.width}×{im.height}</span>
                  </a>
                ))
              ) : job.previewUrl && active ? (
                <img className="live-preview" src={job.previewUrl} alt="Live preview" data-testid="live-preview" />
              ) : (
                <div className="placeholder">{active ? 'Waiting for the first step…' : 'No image.'}</div>
              )}
            </div>
            <p className="prompt-line" title={job.request.prompt}>{job.request.prompt}</p>
          </>
        ) : (
          <div className="placeholder big">
            <p>Write a prompt and press <kbd>Ctrl</kbd>+<kbd>Enter</kbd>.</p>
            <p className="muted">Results appear here and in the Gallery.</p>
          </div>
        )}
        </div>
      </section>
    </div>
  );
}
