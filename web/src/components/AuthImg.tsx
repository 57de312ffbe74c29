// <img> for server images that works on a server with an API key: without a key it is a
// plain <img src>; with one, the image is fetched with the key (ApiClient.imageSrc) and shown
// from a blob: URL, revoked when the image changes or leaves. `useImageSrc` is the same for
// links (Download).
import { useEffect, useState, type ImgHTMLAttributes } from 'react';
import type { ApiClient } from '../api/client';
import { useOptionalStore } from '../state';

export function useImageSrc(url: string, api?: ApiClient | null): string {
  const store = useOptionalStore();
  const client = api ?? store?.api ?? null;
  const keyed = !!client?.hasKey && url.startsWith('/');
  const [src, setSrc] = useState(keyed ? '' : url);
  useEffect(() => {
    if (!keyed || !client) {
      setSrc(url);
      return;
    }
    const ctrl = new AbortController();
    let made = '';
    setSrc('');
    client.imageSrc(url, ctrl.signal).then((s) => {
      made = s;
      if (!ctrl.signal.aborted) setSrc(s);
      else if (s.startsWith('blob:')) URL.revokeObjectURL(s);
    }).catch(() => {});
    return () => {
      ctrl.abort();
      if (made.startsWith('blob:')) URL.revokeObjectURL(made);
    };
  }, [url, keyed, client]);
  return src;
}

// A missing image (deleted from the history since) shows an empty frame, not a broken icon.
export function AuthImg({ src, ...rest }: ImgHTMLAttributes<HTMLImageElement> & { src: string }) {
  const shown = useImageSrc(src);
  const [failed, setFailed] = useState('');
  if (failed && failed === shown) return <span className="img-loading" role="img" aria-label="image not found" />;
  // eslint-disable-next-line jsx-a11y/alt-text -- alt comes with `rest`
  return shown ? <img src={shown} {...rest} onError={() => setFailed(shown)} /> : <span className="img-loading" role="img" aria-label={rest.alt || 'loading image'} />;
}
