// A prompt box with A1111 syntax highlighting: a textarea over a mirror <div> that draws the
// same text in colour (weights, brackets by depth, <lora:...> tags, BREAK, unmatched brackets).
// The textarea keeps its own caret, selection, undo and accessibility; only its text is
// transparent.
import { useMemo, useRef } from 'react';
import { tokenize, type Token } from '../lib/prompt';

interface Props {
  id: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  placeholder?: string;
  rows?: number;
  onSubmit?: () => void;
}

export function tokenClass(t: Token): string {
  const c = [`tok-${t.kind}`];
  if (t.depth > 0 && (t.kind === 'text' || t.kind === 'open' || t.kind === 'close')) c.push(`depth-${Math.min(t.depth, 3)}`);
  if (t.error) c.push('tok-error');
  return c.join(' ');
}

export function Highlight({ text }: { text: string }) {
  const tokens = useMemo(() => tokenize(text), [text]);
  return (
    <>
      {tokens.map((t, i) => (
        <span key={i} className={tokenClass(t)} title={t.error ? 'unmatched bracket' : undefined}>
          {t.text}
        </span>
      ))}
      {/* a trailing newline needs a character after it to take space */}
      {'\u200b'}
    </>
  );
}

export function PromptEditor({ id, label, value, onChange, placeholder, rows = 4, onSubmit }: Props) {
  const mirror = useRef<HTMLDivElement>(null);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="prompt-editor" style={{ minHeight: `${rows * 1.5 + 1}em` }}>
        <div className="prompt-mirror" ref={mirror} aria-hidden="true" data-testid={`${id}-highlight`}>
          <Highlight text={value} />
        </div>
        <textarea
          id={id}
          value={value}
          rows={rows}
          spellCheck={false}
          placeholder={placeholder}
          onChange={(e) => onChange(e.target.value)}
          onScroll={(e) => {
            if (mirror.current) mirror.current.scrollTop = e.currentTarget.scrollTop;
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && onSubmit) {
              e.preventDefault();
              onSubmit();
            }
          }}
        />
      </div>
    </div>
  );
}
