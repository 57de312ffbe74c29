// Queue: every queued and running job with live progress (from the queue's SSE stream, see
// state.tsx), then the recent finished ones. The job table is re-read from the server on
// load, so the queue survives a page reload.
import { useMemo, useState } from 'react';
import { errorMessage } from '../api/client';
import { AuthImg } from '../components/AuthImg';
import { ProgressBar } from '../components/ProgressBar';
import { useStore, type LiveJob } from '../state';

const ORDER: Record<string, number> = { running: 0, queued: 1 };

export function QueueView() {
  const { api, jobs, upsertJob, toast, setView, setCurrentJobId, stream } = useStore();
  const [showDone, setShowDone] = useState(true);
  const list = useMemo(() => {
    const all = Object.values(jobs);
    const active = all.filter((j) => j.state === 'running' || j.state === 'queued')
      .sort((a, b) => (ORDER[a.state] - ORDER[b.state]) || a.createdMs - b.createdMs);
    const done = all.filter((j) => !(j.state === 'running' || j.state === 'queued'))
      .sort((a, b) => (b.finishedMs || b.createdMs) - (a.finishedMs || a.createdMs)).slice(0, 30);
    return { active, done };
  }, [jobs]);

  const cancel = async (j: LiveJob) => {
    try {
      upsertJob(await api.cancel(j.id));
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
  };

  const row = (j: LiveJob) => (
    <li key={j.id} className={`job state-${j.state}`} data-testid="job-row" data-job-id={j.id}>
      <div className="job-thumb">
        {j.images[0] ? <AuthImg src={api.imageFileUrl(j.images[0].id)} alt="" loading="lazy" /> : j.previewUrl && j.state === 'running' ? <img src={j.previewUrl} alt="" /> : <span aria-hidden="true">{j.kind === 'inpaint' ? '◐' : j.kind === 'img2img' ? '◑' : '○'}</span>}
      </div>
      <div className="job-main">
        <div className="job-head">
          <span className={`badge ${j.state}`}>{j.state}</span>
          <span className="muted">{j.kind}</span>
          <span className="muted mono">{j.id}</span>
          {j.request.width ? <span className="muted">{j.request.width}×{j.request.height} · {j.request.steps} steps</span> : null}
        </div>
        <p className="job-prompt" title={j.request.prompt}>{j.request.prompt || <em>(empty prompt)</em>}</p>
        {j.state === 'running' || j.state === 'queued' ? <ProgressBar job={j} /> : null}
        {j.error ? <p className="error">{j.error}</p> : null}
      </div>
      <div className="job-actions">
        {j.state === 'running' || j.state === 'queued' ? (
          <button type="button" className="danger" onClick={() => void cancel(j)} aria-label={`Cancel job ${j.id}`} disabled={j.cancelRequested}>
            {j.cancelRequested ? 'Cancelling…' : 'Cancel'}
          </button>
        ) : null}
        <button type="button" onClick={() => { setCurrentJobId(j.id); setView('generate'); }} aria-label={`Show job ${j.id}`}>Show</button>
      </div>
    </li>
  );

  return (
    <div className="queue panel">
      <header className="view-head">
        <h2>Queue</h2>
        <span className="muted">{list.active.length} active{stream !== 'open' ? ' · live updates reconnecting…' : ''}</span>
        <label className="inline">
          <input type="checkbox" checked={showDone} onChange={(e) => setShowDone(e.target.checked)} /> Show finished
        </label>
      </header>
      {list.active.length === 0 ? <p className="placeholder">Nothing queued. Jobs you start appear here with live progress.</p> : null}
      <ul className="jobs" aria-label="Active jobs">{list.active.map(row)}</ul>
      {showDone && list.done.length ? (
        <>
          <h3>Recent</h3>
          <ul className="jobs" aria-label="Finished jobs">{list.done.map(row)}</ul>
        </>
      ) : null}
    </div>
  );
}
