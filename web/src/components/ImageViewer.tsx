// One image large, with every parameter, and what to do with it: reuse the parameters, copy
// the prompt, download, delete. Arrow keys step through the gallery, Esc closes.
import { useEffect, useRef } from 'react';
import type { ImageRecord } from '../api/types';
import { AuthImg, useImageSrc } from './AuthImg';
import { Highlight } from './PromptEditor';

interface Props {
  image: ImageRecord;
  fileUrl: string;
  onClose: () => void;
  onPrev?: () => void;
  onNext?: () => void;
  onReuse: () => void;
  onDelete: () => void;
  onCopy: () => void;
}

export function paramRows(img: ImageRecord): [string, string][] {
  const rows: [string, string][] = [
    ['Model', img.model],
    ['Size', `${img.width}×${img.height}`],
    ['Seed', String(img.seed)],
    ['Steps', String(img.steps)],
    ['CFG scale', String(img.cfgScale)],
    ['Sampler', img.sampler],
    ['Scheduler', img.scheduler],
  ];
  if (img.loras.length) rows.push(['LoRAs', img.loras.map((l) => `${l.name} (${l.weight})`).join(', ')]);
  const shown = new Set(['parameters', 'prompt', 'negative_prompt', 'model', 'width', 'height', 'seed', 'steps', 'cfg_scale', 'sampler_name', 'scheduler', 'loras', 'init_image', 'mask']);
  for (const [k, v] of Object.entries(img.params)) {
    if (shown.has(k) || v === null || v === '' || typeof v === 'object') continue;
    rows.push([k.replace(/_/g, ' '), String(v)]);
  }
  if (img.createdMs) rows.push(['Created', new Date(img.createdMs).toLocaleString()]);
  rows.push(['Image id', img.id]);
  return rows.filter(([, v]) => v !== '' && v !== 'undefined');
}

export function ImageViewer({ image, fileUrl, onClose, onPrev, onNext, onReuse, onDelete, onCopy }: Props) {
  const closeBtn = useRef<HTMLButtonElement>(null);
  const downloadUrl = useImageSrc(fileUrl);
  useEffect(() => closeBtn.current?.focus(), []);
  useEffect(() => {
    const key = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA')) return;
      if (e.key === 'ArrowRight' && onNext) onNext();
      else if (e.key === 'ArrowLeft' && onPrev) onPrev();
      else if (e.key === 'Escape') onClose();
      else return;
      e.preventDefault();
      e.stopPropagation();
    };
    window.addEventListener('keydown', key, true);
    return () => window.removeEventListener('keydown', key, true);
  }, [onClose, onNext, onPrev]);

  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div className="modal viewer" role="dialog" aria-modal="true" aria-label="Image details" onClick={(e) => e.stopPropagation()} data-testid="image-viewer">
        <div className="viewer-image">
          <button type="button" className="nav prev" onClick={onPrev} disabled={!onPrev} aria-label="Previous image">‹</button>
          <AuthImg src={fileUrl} alt={image.prompt || 'Generated image'} />
          <button type="button" className="nav next" onClick={onNext} disabled={!onNext} aria-label="Next image">›</button>
        </div>
        <aside className="viewer-info">
          <div className="viewer-actions">
            <button type="button" className="primary" onClick={onReuse} data-testid="reuse">Reuse parameters</button>
            <button type="button" onClick={onCopy}>Copy prompt</button>
            <a className="button" href={downloadUrl || fileUrl} download={`${image.id}.png`}>Download</a>
            <button type="button" className="danger" onClick={onDelete}>Delete</button>
            <button type="button" ref={closeBtn} onClick={onClose} aria-label="Close">Close</button>
          </div>
          <h3>Prompt</h3>
          <p className="prompt-text"><Highlight text={image.prompt} /></p>
          {image.negativePrompt ? (
            <>
              <h3>Negative prompt</h3>
              <p className="prompt-text"><Highlight text={image.negativePrompt} /></p>
            </>
          ) : null}
          <table className="params-table">
            <tbody>
              {paramRows(image).map(([k, v]) => (
                <tr key={k}>
                  <th scope="row">{k}</th>
                  <td>{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </aside>
      </div>
    </div>
  );
}
