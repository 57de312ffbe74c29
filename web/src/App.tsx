// The shell: header with the views and the status bar, the four views (all mounted, one
// shown, so each keeps its state), toasts, themes and the global keyboard shortcuts:
//   Ctrl+Enter generate · Esc cancel the current job (on Generate) · Alt+1..4 switch views ·
//   Alt+A the assistant sidebar (arrows step through images in the image view, see
//   ImageViewer.tsx). The API-key dialog opens when the server answers 401.
import { useEffect, useRef, useState } from 'react';
import { ChatSidebar } from './components/ChatSidebar';
import { KeyDialog } from './components/KeyDialog';
import { StatusBar } from './components/StatusBar';
import { Toasts } from './components/Toasts';
import { StoreProvider, useStore, VIEWS } from './state';
import { GalleryView } from './views/GalleryView';
import { GenerateView } from './views/GenerateView';
import { ModelsView } from './views/ModelsView';
import { QueueView } from './views/QueueView';
import type { ApiClient } from './api/client';

type Theme = 'dark' | 'light';

function initialTheme(): Theme {
  const saved = localStorage.getItem('easel.theme');
  if (saved === 'dark' || saved === 'light') return saved;
  return window.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

function Shell() {
  const { view, setView, assistantOpen, setAssistantOpen } = useStore();
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const viewRef = useRef(view);
  viewRef.current = view;

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('easel.theme', theme);
  }, [theme]);

  useEffect(() => {
    const key = (e: KeyboardEvent) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        setView('generate');
        window.dispatchEvent(new Event('easel:generate'));
      } else if (e.key === 'Escape' && viewRef.current === 'generate' && !document.querySelector('[aria-modal="true"]')) {
        window.dispatchEvent(new Event('easel:cancel'));
      } else if (e.altKey && !e.ctrlKey && /^[1-4]$/.test(e.key)) {
        e.preventDefault();
        setView(VIEWS[Number(e.key) - 1].id);
      } else if (e.altKey && !e.ctrlKey && !e.metaKey && (e.code === 'KeyA' || e.key === 'a' || e.key === 'A')) {
        e.preventDefault();
        setAssistantOpen((o) => !o);
      }
    };
    window.addEventListener('keydown', key);
    return () => window.removeEventListener('keydown', key);
  }, [setView, setAssistantOpen]);

  return (
    <div className="app">
      <header className="topbar">
        <h1 className="brand">
          <span className="logo" aria-hidden="true">◐</span> Easel
        </h1>
        <nav aria-label="Views" role="tablist">
          {VIEWS.map((v) => (
            <a
              key={v.id}
              href={`#/${v.id}`}
              role="tab"
              aria-selected={view === v.id}
              aria-controls={`view-${v.id}`}
              className={view === v.id ? 'on' : ''}
              title={`Alt+${v.key}`}
              onClick={(e) => {
                e.preventDefault();
                setView(v.id);
              }}
            >
              {v.label}
            </a>
          ))}
        </nav>
        <StatusBar />
        <button
          type="button"
          className={`assistant-toggle ${assistantOpen ? 'on' : ''}`}
          aria-expanded={assistantOpen}
          aria-controls="assistant"
          title="Alt+A"
          onClick={() => setAssistantOpen((o) => !o)}
          data-testid="assistant-toggle"
        >
          Assistant <kbd>Alt</kbd>+<kbd>A</kbd>
        </button>
        <button
          type="button"
          className="icon theme"
          aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
          onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
        >
          {theme === 'dark' ? '☀' : '☾'}
        </button>
      </header>
      <div className="workspace">
      <main>
        <section id="view-generate" role="tabpanel" aria-label="Generate" hidden={view !== 'generate'} className="view">
          <GenerateView />
        </section>
        <section id="view-queue" role="tabpanel" aria-label="Queue" hidden={view !== 'queue'} className="view">
          <QueueView />
        </section>
        <section id="view-gallery" role="tabpanel" aria-label="Gallery" hidden={view !== 'gallery'} className="view">
          <GalleryView />
        </section>
        <section id="view-models" role="tabpanel" aria-label="Models" hidden={view !== 'models'} className="view">
          <ModelsView />
        </section>
      </main>
      <ChatSidebar />
      </div>
      <KeyDialog />
      <Toasts />
    </div>
  );
}

export function App({ api }: { api?: ApiClient }) {
  return (
    <StoreProvider api={api}>
      <Shell />
    </StoreProvider>
  );
}
