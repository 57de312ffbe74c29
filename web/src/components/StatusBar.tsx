// The always-visible status: connection, device memory (used now, predicted for the next job)
// and queue length. Polls /api/v1/stats every few seconds and after job events; a server
// without stats shows only the queue counted from the live job table.
import { useEffect, useMemo, useState } from 'react';
import { ApiError, isUnavailable } from '../api/client';
import type { Stats } from '../api/types';
import { formatBytes, predictJobBytes } from '../lib/form';
import { useStore } from '../state';

export function StatusBar() {
  const { api, jobs, stream, form, models, setView, setNeedKey, authVersion } = useStore();
  const [locked, setLocked] = useState(false); // the server wants its API key
  const [stats, setStats] = useState<Stats | null>(null);
  const [available, setAvailable] = useState(true);
  const [reachable, setReachable] = useState(true);
  const jobStates = useMemo(() => Object.values(jobs).map((j) => j.state).join(), [jobs]);

  useEffect(() => {
    if (!available) return;
    let stop = false;
    const poll = async () => {
      try {
        const s = await api.stats();
        if (!stop) {
          setStats(s);
          setReachable(true);
          setLocked(false);
        }
      } catch (e) {
        if (stop) return;
        if (isUnavailable(e)) setAvailable(false);
        else if (e instanceof ApiError && e.status === 401) setLocked(true);
        else setReachable(false);
      }
    };
    void poll();
    const t = setInterval(poll, 4000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [api, available, jobStates, authVersion]);

  const live = Object.values(jobs);
  const queued = stats ? stats.queued : live.filter((j) => j.state === 'queued').length;
  const running = stats ? stats.running : live.filter((j) => j.state === 'running').length;
  const model = models?.models.find((m) => m.name === (form.model || models.defaultModel)) ?? models?.models[0];
  const predicted = predictJobBytes(model?.size ?? 0, form);
  const used = stats?.memoryUsedBytes ?? 0;
  const total = stats?.memoryTotalBytes ?? 0;
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  const predPct = total > 0 ? Math.min(100 - pct, (predicted / total) * 100) : 0;
  const device = stats?.devices[0]?.device ?? '';
  const online = stream === 'open' && reachable;

  return (
    <div className="statusbar" role="status" aria-label="Server status">
      <span className={`dot ${online ? 'ok' : stream === 'connecting' ? 'wait' : 'bad'}`} title={online ? 'connected' : 'not connected'} />
      <span className="sr-only">{online ? 'connected' : 'not connected'}</span>
      {locked ? (
        <button type="button" className="link" onClick={() => setNeedKey(true)} data-testid="need-key">API key needed</button>
      ) : available && stats ? (
        <span className="mem" title={`memory: ${formatBytes(used)} used by Easel of ${formatBytes(total)}; the next job needs about ${formatBytes(predicted)}`}>
          <span className="mem-label">{device ? device.toUpperCase() : 'mem'}</span>
          <span className="membar" aria-hidden="true">
            <span className="used" style={{ width: `${pct}%` }} />
            <span className="pred" style={{ width: `${predPct}%` }} />
          </span>
          <span data-testid="mem-text">
            {formatBytes(used)} / {formatBytes(total)} · next ≈{formatBytes(predicted)}
          </span>
        </span>
      ) : (
        <span className="muted">{available ? (reachable ? 'loading status…' : 'server unreachable') : 'memory n/a'}</span>
      )}
      <button className="link queue-count" onClick={() => setView('queue')} data-testid="queue-count" aria-label={`Queue: ${running} running, ${queued} queued`}>
        {running > 0 ? <span className="spinner" aria-hidden="true" /> : null}
        {running} running · {queued} queued
      </button>
    </div>
  );
}
