// Models and presets: the server's models (family, size, previews and trigger words when the
// model library knows them) and LoRAs; presets (a model stack + LoRAs + preferred
// parameters) with an editor that validates against the server and shows the predicted
// memory; rescan the model folders. A server without presets shows the models only.
import { useCallback, useEffect, useState } from 'react';
import { errorMessage, isUnavailable } from '../api/client';
import type { Preset, PresetValidation } from '../api/types';
import { AuthImg } from '../components/AuthImg';
import { NumberField, SelectField } from '../components/Field';
import { formatBytes, predictJobBytes } from '../lib/form';
import { setLora } from '../lib/prompt';
import { useStore } from '../state';

function emptyPreset(): Preset {
  return { type: 'image', name: '', description: '', checkpoint: '', diffusion_model: '', vae: '', clip_l: '', clip_g: '', t5xxl: '', loras: [], params: {}, family: '', vram_weights_mb: 0 };
}

export function PresetEditor({ initial, onSaved, onCancel }: { initial: Preset; onSaved: (p: Preset) => void; onCancel: () => void }) {
  const { api, models, samplers, schedulers, toast } = useStore();
  const [p, setP] = useState<Preset>(initial);
  const [check, setCheck] = useState<PresetValidation | null>(null);
  const [saving, setSaving] = useState(false);
  const editing = initial.name !== '';

  // Validate as the user types (debounced): family, memory, problems.
  useEffect(() => {
    if (!p.checkpoint && !p.diffusion_model) {
      setCheck(null);
      return;
    }
    const t = setTimeout(() => {
      api.validatePreset({ ...p, name: p.name || 'untitled' }).then(setCheck).catch((e) => setCheck({ valid: false, problems: [{ field: '', message: errorMessage(e) }], preset: null }));
    }, 400);
    return () => clearTimeout(t);
  }, [api, p]);

  const weightsMb = check?.preset?.vram_weights_mb ?? p.vram_weights_mb;
  const predicted = predictJobBytes(weightsMb * 1024 * 1024, {
    width: p.params.width ?? 512, height: p.params.height ?? 512, batch: 1, mode: 'txt2img',
    hires: { enabled: false, scale: 1, steps: 0, upscaler: '', denoise: 0 },
  });
  const setParam = (k: keyof Preset['params'], v: number | string) => setP((x) => ({ ...x, params: { ...x.params, [k]: v === '' || v === 0 ? undefined : v } }));
  const modelChoices = (models?.models ?? []).map((m) => m.path || m.name);

  const save = async () => {
    setSaving(true);
    try {
      const saved = await api.savePreset(p, editing ? initial.name : undefined);
      toast(`Preset "${saved.name}" saved.`);
      onSaved(saved);
    } catch (e) {
      toast(errorMessage(e), 'error');
    } finally {
      setSaving(false);
    }
  };

  return (
    <form className="preset-editor" aria-label="Preset editor" onSubmit={(e) => { e.preventDefault(); void save(); }}>
      <h3>{editing ? `Edit preset ${initial.name}` : 'New preset'}</h3>
      <div className="grid2">
        <div className="field">
          <label htmlFor="preset-name">Name</label>
          <input id="preset-name" value={p.name} required maxLength={64} onChange={(e) => setP({ ...p, name: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="preset-desc">Description</label>
          <input id="preset-desc" value={p.description} onChange={(e) => setP({ ...p, description: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="preset-ckpt">Checkpoint (file or diffusers folder)</label>
          <input id="preset-ckpt" list="preset-models" value={p.checkpoint} onChange={(e) => setP({ ...p, checkpoint: e.target.value })} />
          <datalist id="preset-models">{modelChoices.map((m) => <option key={m} value={m} />)}</datalist>
        </div>
        <div className="field">
          <label htmlFor="preset-vae">VAE (optional)</label>
          <input id="preset-vae" value={p.vae} onChange={(e) => setP({ ...p, vae: e.target.value })} />
        </div>
      </div>
      <fieldset>
        <legend>LoRAs</legend>
        {p.loras.map((l, i) => (
          <div className="lora-row" key={i}>
            <input aria-label={`LoRA ${i + 1} path`} value={l.path} onChange={(e) => setP({ ...p, loras: p.loras.map((x, j) => (j === i ? { ...x, path: e.target.value } : x)) })} />
            <input type="range" min={-2} max={2} step={0.05} value={l.weight} aria-label={`LoRA ${i + 1} weight`} onChange={(e) => setP({ ...p, loras: p.loras.map((x, j) => (j === i ? { ...x, weight: Number(e.target.value) } : x)) })} />
            <output>{l.weight}</output>
            <button type="button" className="icon" aria-label={`Remove LoRA ${i + 1}`} onClick={() => setP({ ...p, loras: p.loras.filter((_, j) => j !== i) })}>×</button>
          </div>
        ))}
        <select aria-label="Add a LoRA to the preset" value="" onChange={(e) => e.target.value && setP({ ...p, loras: [...p.loras, { path: e.target.value, weight: 1 }] })}>
          <option value="">Add a LoRA…</option>
          {(models?.loras ?? []).map((l) => <option key={l.name} value={l.path || l.name}>{l.name}</option>)}
        </select>
      </fieldset>
      <fieldset>
        <legend>Preferred parameters (empty: the quality level decides)</legend>
        <div className="grid3">
          <NumberField label="Width" value={p.params.width ?? 0} min={0} max={2048} step={8} onChange={(v) => setParam('width', v)} />
          <NumberField label="Height" value={p.params.height ?? 0} min={0} max={2048} step={8} onChange={(v) => setParam('height', v)} />
          <NumberField label="Steps" value={p.params.steps ?? 0} min={0} max={150} onChange={(v) => setParam('steps', v)} />
          <NumberField label="CFG" value={p.params.cfg ?? 0} min={0} max={30} step={0.5} onChange={(v) => setParam('cfg', v)} />
          <SelectField label="Sampler" value={p.params.sampler ?? ''} options={[{ value: '', label: '—' }, ...samplers]} onChange={(v) => setParam('sampler', v)} />
          <SelectField label="Scheduler" value={p.params.scheduler ?? ''} options={[{ value: '', label: '—' }, ...schedulers]} onChange={(v) => setParam('scheduler', v)} />
        </div>
      </fieldset>
      <div className="preset-check" aria-live="polite" data-testid="preset-check">
        {check ? (
          <>
            <span className={check.valid ? 'ok' : 'bad'}>{check.valid ? '✓ valid' : '✗ problems'}</span>
            {check.preset?.family ? <span>family {check.preset.family}</span> : null}
            <span>weights {formatBytes(weightsMb * 1024 * 1024)} · predicted ≈{formatBytes(predicted)} at {p.params.width ?? 512}×{p.params.height ?? 512}</span>
            <ul>{check.problems.map((pr, i) => <li key={i} className="error">{pr.field ? `${pr.field}: ` : ''}{pr.message}</li>)}</ul>
          </>
        ) : (
          <span className="muted">Choose a checkpoint to see the family and predicted memory.</span>
        )}
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={saving || !p.name}>Save preset</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

export function ModelsView() {
  const { api, models, modelsError, reloadModels, setForm, setView, toast, view } = useStore();
  const [presets, setPresets] = useState<Preset[] | null>(null);
  const [presetsNote, setPresetsNote] = useState('');
  const [editing, setEditing] = useState<Preset | null>(null);
  const [scanning, setScanning] = useState(false);
  const [filter, setFilter] = useState('');

  const loadPresets = useCallback(() => {
    api.presets().then((p) => { setPresets(p); setPresetsNote(''); }).catch((e) => {
      setPresets(null);
      setPresetsNote(isUnavailable(e) ? 'Presets are not available on this server.' : errorMessage(e));
    });
  }, [api]);
  useEffect(() => {
    if (view === 'models') loadPresets();
  }, [loadPresets, view]);

  const rescan = async () => {
    setScanning(true);
    try {
      toast(await api.rescan());
      await reloadModels();
    } catch (e) {
      toast(errorMessage(e), 'error');
    } finally {
      setScanning(false);
    }
  };

  const del = async (name: string) => {
    if (!window.confirm(`Delete the preset "${name}"?`)) return;
    try {
      await api.deletePreset(name);
      loadPresets();
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
  };

  const f = filter.toLowerCase();
  const shown = (models?.models ?? []).filter((m) => !f || `${m.name} ${m.family} ${m.tags.join(' ')} ${m.triggerWords.join(' ')}`.toLowerCase().includes(f));
  const loras = (models?.loras ?? []).filter((l) => !f || `${l.name} ${l.triggerWords.join(' ')}`.toLowerCase().includes(f));

  return (
    <div className="models panel">
      <header className="view-head">
        <h2>Models</h2>
        <input type="search" className="search" placeholder="Filter by name, family, trigger word" aria-label="Filter models" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <button type="button" onClick={() => void rescan()} disabled={scanning}>{scanning ? 'Rescanning…' : 'Rescan folders'}</button>
      </header>
      {modelsError ? <p className="error">{modelsError}</p> : null}
      {models && models.models.length === 0 ? <p className="placeholder">No models. Start the server with --models-dir pointing at your models, then Rescan.</p> : null}
      <div className="cards" role="list" aria-label="Checkpoints">
        {shown.map((m) => (
          <article key={m.name} className="card" role="listitem" data-testid="model-card">
            <div className="card-preview">{m.preview ? <AuthImg src={m.preview} alt={`Preview of ${m.name}`} loading="lazy" data-testid="model-preview" /> : <span aria-hidden="true">{m.family.slice(0, 4)}</span>}</div>
            <div className="card-body">
              <h3 title={m.title}>{m.name}</h3>
              <p className="muted">
                <span className="badge">{m.family}</span> {m.format} {m.size ? `· ${formatBytes(m.size)}` : ''} {models?.defaultModel === m.name ? '· default' : ''}
              </p>
              {!m.supported ? <p className="error">{m.error || 'not supported by this build'}</p> : null}
              {m.triggerWords.length ? <p className="triggers">Triggers: {m.triggerWords.join(', ')}</p> : null}
              {m.description ? <p className="muted clamp">{m.description}</p> : null}
              <button type="button" disabled={!m.supported} onClick={() => { setForm((x) => ({ ...x, model: m.name, preset: '' })); setView('generate'); }}>Use</button>
            </div>
          </article>
        ))}
      </div>
      <h2>LoRAs</h2>
      {loras.length === 0 ? <p className="muted">No LoRAs (the server reads them from --loras-dir, default &lt;models-dir&gt;/Lora).</p> : null}
      <div className="cards small" role="list" aria-label="LoRAs">
        {loras.map((l) => (
          <article key={l.name} className="card" role="listitem">
            {l.preview ? <div className="card-preview"><AuthImg src={l.preview} alt={`Preview of ${l.name}`} loading="lazy" /></div> : null}
            <div className="card-body">
              <h3>{l.name}</h3>
              <p className="muted">{l.family} {l.size ? formatBytes(l.size) : ''}</p>
              {l.triggerWords.length ? <p className="triggers">Triggers: {l.triggerWords.join(', ')}</p> : null}
              <button type="button" onClick={() => {
                setForm((x) => ({ ...x, prompt: setLora(x.prompt, l.name, 1) + (l.triggerWords.length ? `, ${l.triggerWords.join(', ')}` : '') }));
                toast(`${l.name} added to the prompt.`);
              }}>Add to prompt</button>
            </div>
          </article>
        ))}
      </div>
      <h2>Presets</h2>
      {presetsNote ? <p className="muted" data-testid="presets-note">{presetsNote}</p> : null}
      {presets !== null ? (
        <>
          {editing ? (
            <PresetEditor initial={editing} onCancel={() => setEditing(null)} onSaved={() => { setEditing(null); loadPresets(); }} />
          ) : (
            <button type="button" className="primary" onClick={() => setEditing(emptyPreset())}>New preset</button>
          )}
          <ul className="presets">
            {presets.map((p) => (
              <li key={p.name} className="card">
                <div className="card-body">
                  <h3>{p.name} {p.family ? <span className="badge">{p.family}</span> : null}</h3>
                  {p.description ? <p className="muted">{p.description}</p> : null}
                  <p className="muted mono">{p.checkpoint || p.diffusion_model}</p>
                  <p>weights {formatBytes(p.vram_weights_mb * 1024 * 1024)}{p.loras.length ? ` · ${p.loras.length} LoRA${p.loras.length > 1 ? 's' : ''}` : ''}</p>
                  <div className="row">
                    <button type="button" onClick={() => setEditing(p)}>Edit</button>
                    <button type="button" className="danger" onClick={() => void del(p.name)}>Delete</button>
                  </div>
                </div>
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </div>
  );
}
