// Small labelled inputs used across the forms: a number with an optional slider, a select.
import { useId } from 'react';
import type { Choice } from '../api/types';

interface NumberProps {
  label: string;
  value: number;
  onChange: (v: number) => void;
  min?: number;
  max?: number;
  step?: number;
  slider?: boolean;
  testId?: string;
  title?: string;
}

export function NumberField({ label, value, onChange, min, max, step = 1, slider, testId, title }: NumberProps) {
  const id = useId();
  return (
    <div className="field num" title={title}>
      <label htmlFor={id}>{label}</label>
      <div className="row">
        {slider ? (
          <input type="range" min={min} max={max} step={step} value={value} aria-label={`${label} slider`} tabIndex={-1} onChange={(e) => onChange(Number(e.target.value))} />
        ) : null}
        <input
          id={id}
          type="number"
          min={min}
          max={max}
          step={step}
          value={Number.isFinite(value) ? value : ''}
          data-testid={testId}
          onChange={(e) => {
            const v = e.target.valueAsNumber;
            if (Number.isFinite(v)) onChange(v);
          }}
        />
      </div>
    </div>
  );
}

interface SelectProps {
  label: string;
  value: string;
  options: Choice[];
  onChange: (v: string) => void;
  testId?: string;
}

export function SelectField({ label, value, options, onChange, testId }: SelectProps) {
  const id = useId();
  const known = options.some((o) => o.value === value);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} data-testid={testId} onChange={(e) => onChange(e.target.value)}>
        {!known && value ? <option value={value}>{value}</option> : null}
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </div>
  );
}
