// A drop zone for an image (drag-and-drop, paste or a file picker): reads it as a data: URL.
import { useRef, useState } from 'react';

interface Props {
  label: string;
  onImage: (dataUrl: string, name: string, file: File) => void;
  accept?: string;
  children?: React.ReactNode;
  testId?: string;
}

export function readAsDataUrl(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error ?? new Error('cannot read the file'));
    r.readAsDataURL(file);
  });
}

// Any image as a PNG data: URL (the server takes PNG only).
export async function toPngDataUrl(dataUrl: string): Promise<string> {
  if (dataUrl.startsWith('data:image/png')) return dataUrl;
  const img = new Image();
  await new Promise<void>((res, rej) => {
    img.onload = () => res();
    img.onerror = () => rej(new Error('the file is not an image the browser can read'));
    img.src = dataUrl;
  });
  const c = document.createElement('canvas');
  c.width = img.naturalWidth;
  c.height = img.naturalHeight;
  c.getContext('2d')?.drawImage(img, 0, 0);
  return c.toDataURL('image/png');
}

export function ImageDrop({ label, onImage, accept = 'image/*', children, testId }: Props) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const take = async (file: File | undefined | null) => {
    if (!file) return;
    onImage(await readAsDataUrl(file), file.name, file);
  };
  return (
    <div
      className={`dropzone ${over ? 'over' : ''}`}
      data-testid={testId}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        void take(e.dataTransfer.files?.[0]);
      }}
      onPaste={(e) => void take(e.clipboardData.files?.[0])}
    >
      {children}
      <button type="button" className="link" onClick={() => input.current?.click()}>
        {label}
      </button>
      <input
        ref={input}
        type="file"
        accept={accept}
        hidden
        aria-label={label}
        onChange={(e) => {
          void take(e.target.files?.[0]);
          e.target.value = '';
        }}
      />
    </div>
  );
}
