// The app's shared state: the API client, the server's models and samplers, the Generate
// form (shared so the Gallery can "reuse parameters" into it), the live job table fed by the
// queue's SSE stream, the current view, toasts, the API key (asked for when the server
// answers 401, kept in localStorage) and whether the assistant sidebar is open. One provider
// at the root (App.tsx).
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiClient, errorMessage } from './api/client';
import { subscribe, type StreamState } from './api/sse';
import type { Choice, Job, JobEvent, ModelList } from './api/types';
import { defaultForm, persistable, restoreForm, type FormState } from './lib/form';

export type View = 'generate' | 'queue' | 'gallery' | 'models';
export const VIEWS: { id: View; label: string; key: string }[] = [
  { id: 'generate', label: 'Generate', key: '1' },
  { id: 'queue', label: 'Queue', key: '2' },
  { id: 'gallery', label: 'Gallery', key: '3' },
  { id: 'models', label: 'Models', key: '4' },
];

export interface LiveJob extends Job {
  previewUrl?: string;
}

type JobsAction = { type: 'load'; jobs: Job[] } | { type: 'upsert'; job: Job } | { type: 'event'; ev: JobEvent };

export function jobsReducer(state: Record<string, LiveJob>, a: JobsAction): Record<string, LiveJob> {
  switch (a.type) {
    case 'load': {
      const next = { ...state };
      for (const j of a.jobs) next[j.id] = { ...next[j.id], ...j };
      return next;
    }
    case 'upsert':
      return { ...state, [a.job.id]: { ...state[a.job.id], ...a.job } };
    case 'event': {
      const ev = a.ev;
      if (!ev.jobId) return state;
      const cur = state[ev.jobId];
      if (ev.job) return { ...state, [ev.jobId]: { ...cur, ...ev.job, previewUrl: cur?.previewUrl } };
      if (!cur) return state; // unknown job: the caller fetches it
      const j: LiveJob = { ...cur };
      switch (ev.type) {
        case 'running':
        case 'started':
          j.state = 'running';
          if (!j.startedMs) j.startedMs = Date.now();
          break;
        case 'progress':
          j.state = 'running';
          if (ev.progress) j.progress = ev.progress;
          if (ev.previewUrl) j.previewUrl = ev.previewUrl;
          break;
        case 'cancel_requested':
          j.cancelRequested = true;
          break;
        case 'succeeded':
        case 'failed':
        case 'cancelled':
          j.state = ev.type;
          if (ev.error) j.error = ev.error;
          break;
        default:
          return state;
      }
      return { ...state, [ev.jobId]: j };
    }
  }
}

interface Toast {
  id: number;
  text: string;
  kind: 'info' | 'error';
}

interface Store {
  api: ApiClient;
  view: View;
  setView: (v: View) => void;
  form: FormState;
  setForm: (f: FormState | ((f: FormState) => FormState)) => void;
  models: ModelList | null;
  modelsError: string;
  reloadModels: () => Promise<void>;
  samplers: Choice[];
  schedulers: Choice[];
  jobs: Record<string, LiveJob>;
  upsertJob: (j: Job) => void;
  currentJobId: string;
  setCurrentJobId: (id: string) => void;
  stream: StreamState;
  historyVersion: number; // bumps when an image is added or deleted
  bumpHistory: () => void;
  toast: (text: string, kind?: 'info' | 'error') => void;
  toasts: Toast[];
  needKey: boolean; // the server answered 401: the key dialog is shown
  setNeedKey: (b: boolean) => void;
  saveApiKey: (key: string) => void; // stores it, sends it from now on, reloads what failed
  authVersion: number; // bumps when the key changes
  assistantOpen: boolean;
  setAssistantOpen: (b: boolean | ((b: boolean) => boolean)) => void;
}

const Ctx = createContext<Store | null>(null);

// The store, or null outside a StoreProvider (components usable on their own).
export function useOptionalStore(): Store | null {
  return useContext(Ctx);
}

export function useStore(): Store {
  const s = useContext(Ctx);
  if (!s) throw new Error('useStore outside StoreProvider');
  return s;
}

const FORM_KEY = 'easel.form.v1';
export const API_KEY_KEY = 'easel.apiKey';
const ASSISTANT_KEY = 'easel.assistantOpen';
const CURRENT_KEY = 'easel.currentJob';

function viewFromHash(): View {
  const h = window.location.hash.replace(/^#\/?/, '').split('/')[0];
  return (VIEWS.find((v) => v.id === h)?.id ?? 'generate') as View;
}

function loadForm(): FormState {
  try {
    return restoreForm(JSON.parse(localStorage.getItem(FORM_KEY) ?? 'null'));
  } catch {
    return defaultForm();
  }
}

export function StoreProvider({ children, api: given }: { children: ReactNode; api?: ApiClient }) {
  const api = useMemo(() => {
    const a = given ?? new ApiClient('');
    const saved = localStorage.getItem(API_KEY_KEY);
    if (saved && !a.hasKey) a.setApiKey(saved);
    return a;
  }, [given]);
  const [needKey, setNeedKey] = useState(false);
  const [authVersion, setAuthVersion] = useState(0);
  const [assistantOpen, setAssistantOpenState] = useState(() => localStorage.getItem(ASSISTANT_KEY) === '1');
  useEffect(() => {
    api.onUnauthorized = () => setNeedKey(true);
    return () => {
      api.onUnauthorized = null;
    };
  }, [api]);
  const saveApiKey = useCallback((key: string) => {
    try {
      if (key) localStorage.setItem(API_KEY_KEY, key);
      else localStorage.removeItem(API_KEY_KEY);
    } catch {
      /* storage off: the key lasts for this page only */
    }
    api.setApiKey(key);
    setNeedKey(false);
    setAuthVersion((v) => v + 1);
  }, [api]);
  const setAssistantOpen = useCallback((b: boolean | ((b: boolean) => boolean)) => {
    setAssistantOpenState((prev) => {
      const next = typeof b === 'function' ? b(prev) : b;
      localStorage.setItem(ASSISTANT_KEY, next ? '1' : '0');
      return next;
    });
  }, []);
  const [view, setViewState] = useState<View>(viewFromHash);
  const [form, setFormState] = useState<FormState>(loadForm);
  const [models, setModels] = useState<ModelList | null>(null);
  const [modelsError, setModelsError] = useState('');
  const [samplers, setSamplers] = useState<Choice[]>([]);
  const [schedulers, setSchedulers] = useState<Choice[]>([]);
  const [jobs, dispatch] = useReducer(jobsReducer, {});
  const [currentJobId, setCurrentJobIdState] = useState(() => sessionStorage.getItem(CURRENT_KEY) ?? '');
  const [stream, setStream] = useState<StreamState>('connecting');
  const [historyVersion, setHistoryVersion] = useState(0);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const toastId = useRef(0);

  const toast = useCallback((text: string, kind: 'info' | 'error' = 'info') => {
    const id = ++toastId.current;
    setToasts((t) => [...t.slice(-3), { id, text, kind }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === 'error' ? 8000 : 3500);
  }, []);

  const setView = useCallback((v: View) => {
    setViewState(v);
    if (viewFromHash() !== v) window.history.replaceState(null, '', `#/${v}`);
  }, []);
  useEffect(() => {
    const on = () => setViewState(viewFromHash());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);

  const setForm = useCallback((f: FormState | ((f: FormState) => FormState)) => {
    setFormState((prev) => {
      const next = typeof f === 'function' ? f(prev) : f;
      try {
        localStorage.setItem(FORM_KEY, JSON.stringify(persistable(next)));
      } catch {
        /* storage full or off: the form just is not remembered */
      }
      return next;
    });
  }, []);

  const setCurrentJobId = useCallback((id: string) => {
    setCurrentJobIdState(id);
    sessionStorage.setItem(CURRENT_KEY, id);
  }, []);

  const reloadModels = useCallback(async () => {
    try {
      setModels(await api.models());
      setModelsError('');
    } catch (e) {
      setModelsError(errorMessage(e));
      setModels({ models: [], loras: [], defaultModel: '' });
    }
  }, [api]);

  const upsertJob = useCallback((j: Job) => dispatch({ type: 'upsert', job: j }), []);
  const bumpHistory = useCallback(() => setHistoryVersion((v) => v + 1), []);

  // Startup: models, samplers, the unfinished and recent jobs (the queue survives reloads).
  useEffect(() => {
    void reloadModels();
    void api.samplers().then(setSamplers);
    void api.schedulers().then(setSchedulers);
    const loadJobs = async () => {
      try {
        const [active, recent] = await Promise.all([api.jobs({ state: 'running', limit: 100 }), api.jobs({ limit: 50 })]);
        const queued = await api.jobs({ state: 'queued', limit: 500 });
        dispatch({ type: 'load', jobs: [...recent.jobs, ...queued.jobs, ...active.jobs] });
      } catch {
        /* the status bar shows the server as unreachable */
      }
    };
    void loadJobs();
  }, [api, reloadModels, authVersion]);

  // The whole queue's events, for every view.
  const jobsRef = useRef(jobs);
  jobsRef.current = jobs;
  useEffect(() => {
    const fetching = new Set<string>();
    return subscribe(
      api.queueStreamUrl(),
      (ev) => {
        if (ev.type === 'hello') return;
        dispatch({ type: 'event', ev });
        if (ev.jobId && !jobsRef.current[ev.jobId] && !ev.job && !fetching.has(ev.jobId)) {
          fetching.add(ev.jobId);
          void api.job(ev.jobId).then((j) => dispatch({ type: 'upsert', job: j })).catch(() => {}).finally(() => fetching.delete(ev.jobId));
        }
        if (ev.type === 'succeeded' || ev.type === 'image') setHistoryVersion((v) => v + 1);
        if (ev.type === 'succeeded' && ev.jobId && !ev.job)
          void api.job(ev.jobId).then((j) => dispatch({ type: 'upsert', job: j })).catch(() => {});
      },
      setStream,
      api.hasKey ? { headers: api.authHeaders(), fetchFn: api.fetchFn } : {},
    );
  }, [api, authVersion]);

  const value: Store = {
    api, view, setView, form, setForm, models, modelsError, reloadModels, samplers, schedulers,
    jobs, upsertJob, currentJobId, setCurrentJobId, stream, historyVersion, bumpHistory, toast, toasts,
    needKey, setNeedKey, saveApiKey, authVersion, assistantOpen, setAssistantOpen,
  };
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}
