// Gallery: the whole history in a virtualised grid, full-text search (the server's FTS:
// words, "phrases", prefix*) with model / size / date / LoRA filters (sent to the server;
// one it lacks is applied to the loaded page, and a note says so), an image view with every
// parameter, and PNG drop to read any image's parameters (A1111 png-info).
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { errorMessage } from '../api/client';
import type { ImageQuery, ImageRecord, PngInfo } from '../api/types';
import { readAsDataUrl } from '../components/ImageDrop';
import { AuthImg } from '../components/AuthImg';
import { ImageViewer } from '../components/ImageViewer';
import { VirtualGrid } from '../components/VirtualGrid';
import { applyRequest, requestOfImage, stripDataUrl } from '../lib/form';
import { useStore } from '../state';

const PAGE = 100;
const SIZES = [
  { value: '', label: 'Any size' },
  { value: 'small', label: '≤ 512 px' },
  { value: 'medium', label: '513–1024 px' },
  { value: 'large', label: '> 1024 px' },
];
const DATES = [
  { value: '', label: 'Any time' },
  { value: '1', label: 'Today' },
  { value: '7', label: 'Last 7 days' },
  { value: '30', label: 'Last 30 days' },
  { value: 'range', label: 'Between dates…' },
];

const DAY = 86400e3;

// The date filter as created_ms bounds: "1" is today (since local midnight), "7" / "30" the
// last days, "range" the two dates given (whole local days).
export function dateBounds(days: string, from: string, to: string, now = Date.now()): { from?: number; to?: number } {
  if (days === 'range') {
    const f = from ? new Date(`${from}T00:00:00`).getTime() : NaN;
    const t = to ? new Date(`${to}T00:00:00`).getTime() + DAY - 1 : NaN;
    return { ...(Number.isFinite(f) ? { from: f } : {}), ...(Number.isFinite(t) ? { to: t } : {}) };
  }
  if (days === '1') {
    const d = new Date(now);
    d.setHours(0, 0, 0, 0);
    return { from: d.getTime() };
  }
  return days ? { from: now - Number(days) * DAY } : {};
}

export function GalleryView() {
  const { api, models, historyVersion, bumpHistory, setForm, setView, toast, view, authVersion } = useStore();
  const [text, setText] = useState('');
  const [q, setQ] = useState('');
  const [model, setModel] = useState('');
  const [size, setSize] = useState('');
  const [days, setDays] = useState('');
  const [lora, setLora] = useState('');
  const [fromDate, setFromDate] = useState('');
  const [toDate, setToDate] = useState('');
  const [sizesSeen, setSizesSeen] = useState<string[]>([]);
  const [note, setNote] = useState('');
  const [images, setImages] = useState<ImageRecord[]>([]);
  const [total, setTotal] = useState(0);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState('');
  const [selected, setSelected] = useState<number | null>(null);
  const [dropInfo, setDropInfo] = useState<(PngInfo & { url: string }) | null>(null);
  const [dragging, setDragging] = useState(false);
  const generation = useRef(0);

  useEffect(() => {
    const t = setTimeout(() => setQ(text.trim()), 250);
    return () => clearTimeout(t);
  }, [text]);

  const query = useMemo((): ImageQuery => {
    const exact = /^(\d+)x(\d+)$/.exec(size);
    const sz = exact ? { width: Number(exact[1]), height: Number(exact[2]) }
      : size === 'small' ? { maxWidth: 512, maxHeight: 512 } : size === 'medium' ? { minWidth: 513, maxWidth: 1024 } : size === 'large' ? { minWidth: 1025 } : {};
    return { q, model: model || undefined, lora: lora || undefined, ...dateBounds(days, fromDate, toDate), ...sz };
  }, [q, model, size, days, lora, fromDate, toDate]);

  const load = useCallback(async (offset: number) => {
    const gen = offset === 0 ? ++generation.current : generation.current;
    setLoading(true);
    try {
      const page = await api.images({ ...query, limit: PAGE, offset });
      if (gen !== generation.current) return;
      setImages((prev) => (offset === 0 ? page.images : [...prev, ...page.images.filter((i) => !prev.some((p) => p.id === i.id))]));
      setTotal(page.total);
      setError('');
      setNote(page.clientFiltered?.length
        ? `This server cannot filter by ${page.clientFiltered.join(' and ')}: only the ${offset + PAGE} most relevant images were filtered here, so older matches may be missing.`
        : '');
      if (!query.width) {
        const seen = page.images.map((i) => `${i.width}x${i.height}`);
        setSizesSeen((prev) => [...new Set([...prev, ...seen])].sort((a, b) => parseInt(a) - parseInt(b)).slice(0, 12));
      }
    } catch (e) {
      if (gen === generation.current) setError(errorMessage(e));
    } finally {
      if (gen === generation.current) setLoading(false);
    }
  }, [api, query]);

  useEffect(() => {
    if (view === 'gallery' || historyVersion === 0) void load(0);
  }, [load, historyVersion, view, authVersion]);

  const more = useCallback(() => {
    if (!loading && images.length < total) void load(images.length);
  }, [loading, images.length, total, load]);

  const current = selected !== null ? images[selected] : undefined;

  const reuse = (img: ImageRecord) => {
    setForm((f) => applyRequest(f, requestOfImage(img)));
    setSelected(null);
    setView('generate');
    toast('Parameters loaded into Generate.');
  };

  const copy = async (s: string) => {
    try {
      await navigator.clipboard.writeText(s);
      toast('Prompt copied.');
    } catch {
      toast('The browser refused the clipboard: select the prompt and copy it.', 'error');
    }
  };

  const remove = async (img: ImageRecord) => {
    if (!window.confirm('Delete this image and its record?')) return;
    try {
      await api.deleteImage(img.id);
      setImages((prev) => prev.filter((p) => p.id !== img.id));
      setTotal((t) => Math.max(0, t - 1));
      setSelected((s) => (s === null ? null : images.length <= 1 ? null : Math.min(s, images.length - 2)));
      bumpHistory();
      toast('Deleted.');
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
  };

  const readPng = async (file: File | undefined) => {
    if (!file) return;
    if (file.type && file.type !== 'image/png') {
      toast('Only PNG files carry generation parameters.', 'error');
      return;
    }
    try {
      const url = await readAsDataUrl(file);
      const info = await api.pngInfo(stripDataUrl(url));
      if (!info.info) toast('This PNG has no generation parameters.', 'error');
      setDropInfo({ ...info, url });
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
  };

  return (
    <div
      className={`gallery panel ${dragging ? 'dragging' : ''}`}
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes('Files')) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target) setDragging(false);
      }}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        void readPng(e.dataTransfer.files?.[0]);
      }}
    >
      <header className="view-head">
        <h2>Gallery</h2>
        <input
          type="search"
          className="search"
          placeholder='Search: castle "red door" drag* -blurry seed:42'
          title={'castle: the word · cast*: a prefix · "red castle": a phrase · -blurry: without\nmodel:dream* · sampler:euler · scheduler:karras · seed:42 · tag:portrait'}
          aria-label="Search the history"
          value={text}
          onChange={(e) => setText(e.target.value)}
          data-testid="gallery-search"
        />
        <select aria-label="Filter by model" value={model} onChange={(e) => setModel(e.target.value)}>
          <option value="">All models</option>
          {models?.models.map((m) => <option key={m.name} value={m.name}>{m.name}</option>)}
        </select>
        <select aria-label="Filter by size" value={size} onChange={(e) => setSize(e.target.value)} data-testid="filter-size">
          {SIZES.map((s) => <option key={s.value} value={s.value}>{s.label}</option>)}
          {sizesSeen.length ? (
            <optgroup label="Exactly">
              {sizesSeen.map((s) => <option key={s} value={s}>{s.replace('x', '×')}</option>)}
            </optgroup>
          ) : null}
        </select>
        <select aria-label="Filter by date" value={days} onChange={(e) => setDays(e.target.value)} data-testid="filter-date">
          {DATES.map((s) => <option key={s.value} value={s.value}>{s.label}</option>)}
        </select>
        {days === 'range' ? (
          <span className="date-range">
            <input type="date" aria-label="From date" value={fromDate} onChange={(e) => setFromDate(e.target.value)} />
            –
            <input type="date" aria-label="To date" value={toDate} onChange={(e) => setToDate(e.target.value)} />
          </span>
        ) : null}
        {models && models.loras.length ? (
          <select aria-label="Filter by LoRA" value={lora} onChange={(e) => setLora(e.target.value)}>
            <option value="">Any LoRA</option>
            {models.loras.map((l) => <option key={l.name} value={l.name}>{l.name}</option>)}
          </select>
        ) : null}
        <span className="muted" data-testid="gallery-count">{loading ? 'loading…' : `${total} image${total === 1 ? '' : 's'}`}</span>
        <label className="button small">
          Read a PNG…
          <input type="file" accept="image/png" hidden aria-label="Read the parameters of a PNG" onChange={(e) => { void readPng(e.target.files?.[0]); e.target.value = ''; }} />
        </label>
      </header>
      {error ? <p className="error" role="alert">{error}</p> : null}
      {note ? <p className="filter-note" role="status" data-testid="filter-note">{note}</p> : null}
      {!loading && images.length === 0 && !error ? (
        <p className="placeholder">{q || model || size || days || lora ? 'No image matches.' : 'No images yet. Generate one, or drop a PNG here to read its parameters.'}</p>
      ) : null}
      <VirtualGrid
        items={images}
        minCell={170}
        label="Images"
        keyOf={(i) => i.id}
        onEndReached={more}
        render={(img, i) => (
          <button type="button" className="thumb" onClick={() => setSelected(i)} aria-label={`Open image: ${img.prompt.slice(0, 80) || img.id}`} data-testid="thumb">
            <AuthImg src={api.imageFileUrl(img.id)} alt="" loading="lazy" decoding="async" />
            <span className="thumb-caption">{img.prompt}</span>
          </button>
        )}
      />
      {dragging ? <div className="drop-hint">Drop a PNG to read its parameters</div> : null}
      {current ? (
        <ImageViewer
          image={current}
          fileUrl={api.imageFileUrl(current.id)}
          onClose={() => setSelected(null)}
          onPrev={selected! > 0 ? () => setSelected((s) => (s ?? 1) - 1) : undefined}
          onNext={selected! < images.length - 1 ? () => setSelected((s) => (s ?? 0) + 1) : undefined}
          onReuse={() => reuse(current)}
          onDelete={() => void remove(current)}
          onCopy={() => void copy(current.prompt)}
        />
      ) : null}
      {dropInfo ? (
        <div className="modal-backdrop" onClick={() => setDropInfo(null)}>
          <div className="modal pnginfo" role="dialog" aria-modal="true" aria-label="PNG parameters" onClick={(e) => e.stopPropagation()}>
            <img src={dropInfo.url} alt="Dropped PNG" />
            <div>
              <h3>Parameters</h3>
              <pre className="infotext" data-testid="pnginfo-text">{dropInfo.info || '(none stored in this PNG)'}</pre>
              <div className="viewer-actions">
                <button type="button" className="primary" disabled={!dropInfo.info} onClick={() => {
                  setForm((f) => applyRequest(f, dropInfo.request));
                  setDropInfo(null);
                  setView('generate');
                  toast('Parameters loaded into Generate.');
                }}>Reuse these parameters</button>
                <button type="button" onClick={() => setDropInfo(null)}>Close</button>
              </div>
            </div>
          </div>
        </div>
      ) : null}
    </div>
  );
}
