// A job's progress: step / total, ETA from the seconds per step, indeterminate while queued.
import type { LiveJob } from '../state';

export function ProgressBar({ job }: { job: LiveJob }) {
  const p = job.progress;
  const frac = job.state === 'succeeded' ? 1 : p && p.total > 0 ? p.step / p.total : 0;
  const eta = p && p.secondsPerStep > 0 ? Math.max(0, (p.total - p.step) * p.secondsPerStep) : null;
  const label =
    job.state === 'queued' ? 'queued' :
    job.state === 'running' ? (p && p.total > 0 ? `step ${p.step} / ${p.total}${eta !== null ? ` · ${eta.toFixed(eta < 10 ? 1 : 0)} s left` : ''}` : job.cancelRequested ? 'cancelling…' : 'starting…') :
    job.state;
  return (
    <div className={`progress state-${job.state}`} data-testid="progress">
      <div
        className={`progress-track ${job.state === 'queued' || (job.state === 'running' && !p) ? 'indeterminate' : ''}`}
        role="progressbar"
        aria-label="Job progress"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(frac * 100)}
      >
        <div className="progress-fill" style={{ width: `${frac * 100}%` }} />
      </div>
      <span className="progress-label">{label}</span>
    </div>
  );
}
