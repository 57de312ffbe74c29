// Prompt syntax (A1111's) for highlighting and the LoRA picker: (word:1.2) and (word) raise a
// weight, [word] lowers it, <lora:name:0.8> (also <lyco:...>, <hypernet:...>) names an extra
// network, BREAK starts a new chunk, \( \) are literal brackets. tokenize() never fails: an
// unbalanced bracket is marked `error` and the rest still highlights.

export type TokenKind = 'text' | 'open' | 'close' | 'weight' | 'lora' | 'break' | 'comma' | 'escape';

export interface Token {
  kind: TokenKind;
  text: string;
  depth: number; // bracket nesting at this token (0 = none)
  error?: boolean; // an unmatched bracket
}

const LORA_RE = /^<(lora|lyco|hypernet):([^:>]+)(?::([^:>]*))?(?::([^>]*))?>/i;
const WEIGHT_RE = /^:\s*-?\d*\.?\d+\s*(?=\))/;

export function tokenize(prompt: string): Token[] {
  const out: Token[] = [];
  const stack: { ch: string; index: number }[] = [];
  let text = '';
  const flush = () => {
    if (text) out.push({ kind: 'text', text, depth: stack.length });
    text = '';
  };
  let i = 0;
  while (i < prompt.length) {
    const rest = prompt.slice(i);
    const c = prompt[i];
    if (c === '\\' && i + 1 < prompt.length) {
      flush();
      out.push({ kind: 'escape', text: prompt.slice(i, i + 2), depth: stack.length });
      i += 2;
      continue;
    }
    const lora = LORA_RE.exec(rest);
    if (lora) {
      flush();
      out.push({ kind: 'lora', text: lora[0], depth: stack.length });
      i += lora[0].length;
      continue;
    }
    if (rest.startsWith('BREAK') && (i === 0 || /\s/.test(prompt[i - 1])) && (rest.length === 5 || /[\s,]/.test(rest[5]))) {
      flush();
      out.push({ kind: 'break', text: 'BREAK', depth: stack.length });
      i += 5;
      continue;
    }
    if (c === '(' || c === '[') {
      flush();
      stack.push({ ch: c, index: out.length });
      out.push({ kind: 'open', text: c, depth: stack.length });
      i += 1;
      continue;
    }
    if (c === ':' && stack.length && stack[stack.length - 1].ch === '(') {
      const w = WEIGHT_RE.exec(rest);
      if (w) {
        flush();
        out.push({ kind: 'weight', text: w[0], depth: stack.length });
        i += w[0].length;
        continue;
      }
    }
    if (c === ')' || c === ']') {
      flush();
      const want = c === ')' ? '(' : '[';
      if (stack.length && stack[stack.length - 1].ch === want) {
        out.push({ kind: 'close', text: c, depth: stack.length });
        stack.pop();
      } else {
        out.push({ kind: 'close', text: c, depth: stack.length, error: true });
      }
      i += 1;
      continue;
    }
    if (c === ',') {
      flush();
      out.push({ kind: 'comma', text: c, depth: stack.length });
      i += 1;
      continue;
    }
    text += c;
    i += 1;
  }
  flush();
  for (const s of stack) out[s.index].error = true;
  return out;
}

export interface PromptLora {
  name: string;
  weight: number;
  teWeight?: number; // A1111's <lora:name:te:unet>: the first number is the text encoder's
  start: number; // offset of the tag in the prompt
  end: number;
}

// The <lora:...> tags in a prompt, in order.
export function findLoras(prompt: string): PromptLora[] {
  const out: PromptLora[] = [];
  const re = /<lora:([^:>]+)(?::([^:>]*))?(?::([^>]*))?>/gi;
  let m: RegExpExecArray | null;
  while ((m = re.exec(prompt))) {
    const a = m[2] !== undefined && m[2] !== '' ? Number(m[2]) : 1;
    const b = m[3] !== undefined && m[3] !== '' ? Number(m[3]) : undefined;
    const lora: PromptLora = { name: m[1].trim(), weight: Number.isFinite(a) ? a : 1, start: m.index, end: m.index + m[0].length };
    if (b !== undefined && Number.isFinite(b)) {
      lora.teWeight = lora.weight;
      lora.weight = b;
    }
    out.push(lora);
  }
  return out;
}

export function formatWeight(w: number): string {
  return String(Math.round(w * 100) / 100);
}

function loraTag(name: string, weight: number, teWeight?: number): string {
  return teWeight === undefined || teWeight === weight
    ? `<lora:${name}:${formatWeight(weight)}>`
    : `<lora:${name}:${formatWeight(teWeight)}:${formatWeight(weight)}>`;
}

// The prompt with the LoRA's tag added (at the end) or its weight changed.
export function setLora(prompt: string, name: string, weight: number, teWeight?: number): string {
  const found = findLoras(prompt).find((l) => l.name === name);
  const tag = loraTag(name, weight, teWeight);
  if (found) return prompt.slice(0, found.start) + tag + prompt.slice(found.end);
  const sep = prompt.trim() === '' ? '' : /[\s,]$/.test(prompt) ? '' : ', ';
  return prompt + sep + tag;
}

// The prompt without the LoRA's tag (and the separator before it).
export function removeLora(prompt: string, name: string): string {
  const found = findLoras(prompt).find((l) => l.name === name);
  if (!found) return prompt;
  let start = found.start;
  const before = prompt.slice(0, start);
  const sep = /,?\s*$/.exec(before);
  if (sep) start -= sep[0].length;
  return (prompt.slice(0, start) + prompt.slice(found.end)).replace(/^\s*,\s*/, '');
}
