import { describe, expect, it } from 'vitest';
import { findLoras, removeLora, setLora, tokenize } from '../src/lib/prompt';

const kinds = (s: string) => tokenize(s).map((t) => `${t.kind}:${t.text}`);

describe('tokenize', () => {
  it('marks weights, brackets and their depth', () => {
    const t = tokenize('a (red:1.3) fox');
    expect(kinds('a (red:1.3) fox')).toEqual(['text:a ', 'open:(', 'text:red', 'weight::1.3', 'close:)', 'text: fox']);
    expect(t.find((x) => x.text === 'red')?.depth).toBe(1);
    expect(t.some((x) => x.error)).toBe(false);
  });

  it('nests brackets and keeps [de-emphasis]', () => {
    const t = tokenize('((big)) [small]');
    expect(t.filter((x) => x.kind === 'open').map((x) => x.depth)).toEqual([1, 2, 1]);
    expect(t.find((x) => x.text === 'big')?.depth).toBe(2);
  });

  it('recognises <lora:...> tags and BREAK', () => {
    expect(kinds('cat <lora:my_style:0.8> BREAK dog')).toEqual(['text:cat ', 'lora:<lora:my_style:0.8>', 'text: ', 'break:BREAK', 'text: dog']);
    expect(kinds('BREAKFAST')).toEqual(['text:BREAKFAST']);
  });

  it('flags unmatched brackets but goes on', () => {
    const t = tokenize('a (b c) d) e (f');
    expect(t.filter((x) => x.error).map((x) => x.text)).toEqual([')', '(']);
    expect(t.map((x) => x.text).join('')).toBe('a (b c) d) e (f');
  });

  it('treats escaped brackets as text', () => {
    const t = tokenize('\\(not a weight\\)');
    expect(t.filter((x) => x.kind === 'open')).toHaveLength(0);
    expect(t.map((x) => x.text).join('')).toBe('\\(not a weight\\)');
  });

  it('a colon outside a weight is text', () => {
    expect(kinds('(a:b)')).toEqual(['open:(', 'text:a:b', 'close:)']);
  });
});

describe('LoRA tags', () => {
  it('finds tags with one or two weights', () => {
    const l = findLoras('x <lora:a:0.5>, <lora:b> <lora:c:0.3:0.9>');
    expect(l.map((x) => [x.name, x.weight, x.teWeight])).toEqual([['a', 0.5, undefined], ['b', 1, undefined], ['c', 0.9, 0.3]]);
  });

  it('adds, re-weights and removes a tag', () => {
    let p = setLora('a castle', 'style', 1);
    expect(p).toBe('a castle, <lora:style:1>');
    p = setLora(p, 'style', 0.45);
    expect(p).toBe('a castle, <lora:style:0.45>');
    expect(removeLora(p, 'style')).toBe('a castle');
    expect(setLora('', 'x', 0.5)).toBe('<lora:x:0.5>');
    expect(removeLora('<lora:x:0.5>, tree', 'x')).toBe('tree');
  });

  it('keeps a text-encoder weight when re-weighting', () => {
    expect(setLora('<lora:c:0.3:0.9>', 'c', 0.5, 0.3)).toBe('<lora:c:0.3:0.5>');
  });
});
