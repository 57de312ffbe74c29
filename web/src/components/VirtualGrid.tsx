// A virtualised grid of square cells: only the rows in view (plus a margin) are in the DOM,
// so a history of 100,000 images scrolls as fast as one of ten. Calls onEndReached when the
// last rows come into view (to load the next page).
import { useEffect, useRef, useState } from 'react';

interface Props<T> {
  items: T[];
  minCell: number; // px; columns = floor(width / minCell)
  gap?: number;
  render: (item: T, index: number) => React.ReactNode;
  keyOf: (item: T) => string;
  onEndReached?: () => void;
  label: string;
}

export function visibleRange(scrollTop: number, viewport: number, rowHeight: number, rows: number, overscan = 2) {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(rows - 1, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  return { first, last };
}

export function VirtualGrid<T>({ items, minCell, gap = 8, render, keyOf, onEndReached, label }: Props<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(800);
  const [height, setHeight] = useState(600);
  const [scrollTop, setScrollTop] = useState(0);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => {
      if (el.clientWidth > 0) setWidth(el.clientWidth);
      if (el.clientHeight > 0) setHeight(el.clientHeight);
    };
    measure();
    if (typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const cols = Math.max(1, Math.floor((width + gap) / (minCell + gap)));
  const cell = (width - gap * (cols - 1)) / cols;
  const rowH = cell + gap;
  const rows = Math.ceil(items.length / cols);
  const { first, last } = visibleRange(scrollTop, height, rowH, rows);

  useEffect(() => {
    if (onEndReached && rows > 0 && last >= rows - 2) onEndReached();
  }, [last, rows, onEndReached]);

  const cells: React.ReactNode[] = [];
  for (let r = first; r <= last; r++)
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (i >= items.length) break;
      cells.push(
        <div key={keyOf(items[i])} role="listitem" className="vcell" style={{ top: r * rowH, left: c * (cell + gap), width: cell, height: cell }}>
          {render(items[i], i)}
        </div>,
      );
    }

  return (
    <div className="vgrid" ref={box} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)} role="list" aria-label={label} tabIndex={0}>
      <div style={{ position: 'relative', height: Math.max(0, rows * rowH - gap) }}>{cells}</div>
    </div>
  );
}
