// The API-key dialog: shown when the server answers 401 (it was started with --api-key).
// The key is kept in this browser's localStorage and sent as "Authorization: Bearer KEY".
import { useEffect, useRef, useState } from 'react';
import { useStore } from '../state';

export function KeyDialog() {
  const { needKey, setNeedKey, saveApiKey, api } = useStore();
  const [key, setKey] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (needKey) input.current?.focus();
  }, [needKey]);
  if (!needKey) return null;
  return (
    <div className="modal-backdrop">
      <form
        className="modal key-dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="key-title"
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim()) saveApiKey(key.trim());
        }}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            setNeedKey(false);
          }
        }}
      >
        <h2 id="key-title">API key needed</h2>
        <p>
          {api.hasKey ? 'The server refused the saved key.' : 'This server was started with an API key.'} Enter the key given to{' '}
          <code>easel serve --api-key</code> (or the first line of its <code>--api-key-file</code>).
        </p>
        <div className="field">
          <label htmlFor="api-key">API key</label>
          <input id="api-key" ref={input} type="password" autoComplete="current-password" value={key} onChange={(e) => setKey(e.target.value)} />
        </div>
        <p className="hint">Kept in this browser only (localStorage); sent to this server as “Authorization: Bearer …”.</p>
        <div className="actions">
          <button type="submit" className="primary" disabled={!key.trim()}>Use this key</button>
          <button type="button" onClick={() => setNeedKey(false)}>Not now</button>
          {api.hasKey ? <button type="button" className="danger" onClick={() => saveApiKey('')}>Forget the saved key</button> : null}
        </div>
      </form>
    </div>
  );
}
