// LoRAs for the prompt: pick one from the server's list (with its trigger words), then tune
// its weight with a slider. The prompt's <lora:name:w> tags are the single source of truth:
// the picker reads them and rewrites them.
import { useState } from 'react';
import type { LoraInfo } from '../api/types';
import { findLoras, formatWeight, removeLora, setLora } from '../lib/prompt';

interface Props {
  prompt: string;
  loras: LoraInfo[];
  onPrompt: (p: string) => void;
}

export function LoraPicker({ prompt, loras, onPrompt }: Props) {
  const [pick, setPick] = useState('');
  const active = findLoras(prompt);
  const add = (name: string) => {
    if (!name) return;
    let p = setLora(prompt, name, 1);
    const info = loras.find((l) => l.name === name);
    const words = info?.triggerWords.filter((w) => !prompt.includes(w)) ?? [];
    if (words.length) p = `${p}, ${words.join(', ')}`;
    onPrompt(p);
    setPick('');
  };
  return (
    <fieldset className="lora-picker">
      <legend>LoRAs</legend>
      {loras.length === 0 && active.length === 0 ? <p className="muted">No LoRAs in the server's LoRA folder.</p> : null}
      {loras.length > 0 ? (
        <div className="row">
          <select aria-label="Add a LoRA" value={pick} onChange={(e) => add(e.target.value)}>
            <option value="">Add a LoRA…</option>
            {loras.map((l) => (
              <option key={l.name} value={l.name} disabled={active.some((a) => a.name === l.name)}>
                {l.name}
                {l.triggerWords.length ? ` — ${l.triggerWords.slice(0, 3).join(', ')}` : ''}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      {active.map((l) => (
        <div className="lora-row" key={l.name}>
          <span className="lora-name" title={l.name}>{l.name}</span>
          <input
            type="range"
            min={-2}
            max={2}
            step={0.05}
            value={l.weight}
            aria-label={`Weight of ${l.name}`}
            onChange={(e) => onPrompt(setLora(prompt, l.name, Number(e.target.value), l.teWeight))}
          />
          <output>{formatWeight(l.weight)}</output>
          <button type="button" className="icon" aria-label={`Remove ${l.name}`} onClick={() => onPrompt(removeLora(prompt, l.name))}>
            ×
          </button>
        </div>
      ))}
    </fieldset>
  );
}
