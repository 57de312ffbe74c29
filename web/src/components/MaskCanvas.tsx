// Inpainting canvas: the init image with a mask painted over it (brush / eraser, size), a
// preview of the mask as sent (white = repaint), clear and invert; outpainting margins are
// drawn as a checkered frame around the image. getMask() returns the mask as a PNG data URL
// at the image's own size, or null when nothing is painted.
import { forwardRef, useCallback, useEffect, useImperativeHandle, useRef, useState } from 'react';

export interface MaskCanvasHandle {
  getMask: () => string | null;
  clear: () => void;
}

interface Props {
  image: string; // data: URL
  outpaint: [number, number, number, number];
}

const PAINT = 'rgba(255, 64, 96, 1)';

export const MaskCanvas = forwardRef<MaskCanvasHandle, Props>(function MaskCanvas({ image, outpaint }, ref) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [size, setSize] = useState<{ w: number; h: number } | null>(null);
  const [tool, setTool] = useState<'brush' | 'eraser'>('brush');
  const [brush, setBrush] = useState(32);
  const [preview, setPreview] = useState(false);
  const [painted, setPainted] = useState(false);
  const [maskUrl, setMaskUrl] = useState<string | null>(null);
  const last = useRef<{ x: number; y: number } | null>(null);

  // The canvas takes the image's natural size; a new image clears the mask.
  useEffect(() => {
    const img = new Image();
    img.onload = () => setSize({ w: img.naturalWidth, h: img.naturalHeight });
    img.src = image;
    setPainted(false);
    setPreview(false);
  }, [image]);

  const exportMask = useCallback((): string | null => {
    const c = canvas.current;
    if (!c || !painted) return null;
    const out = document.createElement('canvas');
    out.width = c.width;
    out.height = c.height;
    const ctx = out.getContext('2d');
    const src = c.getContext('2d');
    if (!ctx || !src) return null;
    const data = src.getImageData(0, 0, c.width, c.height);
    const px = data.data;
    for (let i = 0; i < px.length; i += 4) {
      const v = px[i + 3] > 16 ? 255 : 0;
      px[i] = px[i + 1] = px[i + 2] = v;
      px[i + 3] = 255;
    }
    ctx.putImageData(data, 0, 0);
    return out.toDataURL('image/png');
  }, [painted]);

  const clear = useCallback(() => {
    const c = canvas.current;
    c?.getContext('2d')?.clearRect(0, 0, c.width, c.height);
    setPainted(false);
    setPreview(false);
  }, []);

  useImperativeHandle(ref, () => ({ getMask: exportMask, clear }), [exportMask, clear]);

  useEffect(() => {
    setMaskUrl(preview ? exportMask() : null);
  }, [preview, exportMask]);

  const invert = () => {
    const c = canvas.current;
    const ctx = c?.getContext('2d');
    if (!c || !ctx) return;
    const data = ctx.getImageData(0, 0, c.width, c.height);
    const px = data.data;
    for (let i = 0; i < px.length; i += 4) {
      const on = px[i + 3] > 16;
      px[i] = 255;
      px[i + 1] = 64;
      px[i + 2] = 96;
      px[i + 3] = on ? 0 : 255;
    }
    ctx.putImageData(data, 0, 0);
    setPainted(true);
  };

  const toCanvas = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const c = e.currentTarget;
    const r = c.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * c.width, y: ((e.clientY - r.top) / r.height) * c.height, scale: c.width / r.width };
  };

  const stroke = (from: { x: number; y: number }, to: { x: number; y: number }, scale: number) => {
    const ctx = canvas.current?.getContext('2d');
    if (!ctx) return;
    ctx.globalCompositeOperation = tool === 'eraser' ? 'destination-out' : 'source-over';
    ctx.strokeStyle = PAINT;
    ctx.fillStyle = PAINT;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.lineWidth = brush * scale;
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(to.x, to.y, (brush * scale) / 2, 0, Math.PI * 2);
    ctx.fill();
    if (tool === 'brush') setPainted(true);
  };

  const [l, r, t, b] = outpaint;
  // Padding percentages are of the stage's width, for all four sides: the margins keep their
  // proportion to the image's width.
  const across = size ? size.w + l + r : 1;
  const pct = (v: number) => `${(v / across) * 100}%`;
  const frame = size && (l || r || t || b) ? { padding: `${pct(t)} ${pct(r)} ${pct(b)} ${pct(l)}` } : undefined;

  return (
    <div className="mask-editor">
      <div className="toolbar" role="toolbar" aria-label="Mask tools">
        <button type="button" className={tool === 'brush' ? 'on' : ''} aria-pressed={tool === 'brush'} onClick={() => setTool('brush')}>Brush</button>
        <button type="button" className={tool === 'eraser' ? 'on' : ''} aria-pressed={tool === 'eraser'} onClick={() => setTool('eraser')}>Eraser</button>
        <label className="inline">
          Size
          <input type="range" min={4} max={160} value={brush} onChange={(e) => setBrush(Number(e.target.value))} aria-label="Brush size" />
        </label>
        <button type="button" onClick={invert}>Invert</button>
        <button type="button" onClick={clear}>Clear</button>
        <label className="inline">
          <input type="checkbox" checked={preview} onChange={(e) => setPreview(e.target.checked)} /> Mask preview
        </label>
      </div>
      <div className={`mask-stage ${frame ? 'outpaint' : ''}`} style={frame}>
        <div className="mask-inner">
          <img src={image} alt="Init image" draggable={false} />
          {size ? (
            <canvas
              ref={canvas}
              width={size.w}
              height={size.h}
              className={`mask-layer ${preview ? 'hidden' : ''}`}
              data-testid="mask-canvas"
              aria-label="Mask: paint the area to repaint"
              style={{ cursor: 'crosshair' }}
              onPointerDown={(e) => {
                e.currentTarget.setPointerCapture(e.pointerId);
                const p = toCanvas(e);
                last.current = p;
                stroke(p, p, p.scale);
              }}
              onPointerMove={(e) => {
                if (!last.current) return;
                const p = toCanvas(e);
                stroke(last.current, p, p.scale);
                last.current = p;
              }}
              onPointerUp={() => (last.current = null)}
              onPointerCancel={() => (last.current = null)}
            />
          ) : null}
          {preview && maskUrl ? <img className="mask-preview" src={maskUrl} alt="Mask preview (white is repainted)" /> : null}
        </div>
      </div>
      <p className="hint">{painted ? 'Painted areas are repainted.' : outpaint.some((v) => v > 0) ? 'The checkered margin is added and filled.' : 'Paint over the part to repaint.'}</p>
    </div>
  );
});
