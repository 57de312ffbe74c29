// The assistant sidebar (Alt+A, or the header's Assistant button): chat sessions kept by the
// server, the model's answer streaming in, a card per tool call (name, arguments, result),
// set_params filling the Generate form, and Approve / Reject for calls that need the user's
// yes (queue_generation). On a server without a configured LLM it says how to configure one.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { AssistantApi, type AssistantEvent, type ChatSession, type LlmStatus } from '../api/assistant';
import { errorMessage } from '../api/client';
import { applyAssistantParams, applyEvent, errorItem, itemsOfMessages, preview, userItem, type ChatItem } from '../lib/chat';
import { useStore } from '../state';

const TOOL_LABELS: Record<string, string> = {
  get_styles: 'Looked up the styles',
  apply_style: 'Applied a style',
  enhance_prompt: 'Enhanced the prompt',
  search_history: 'Searched the history',
  get_library_items: 'Looked in the model library',
  get_memory_status: 'Checked the memory',
  set_generation_params: 'Set the generation parameters',
  queue_generation: 'Queue a generation',
};

function ToolCard({ item, onConfirm }: { item: Extract<ChatItem, { kind: 'tool' }>; onConfirm: (approve: boolean) => void }) {
  const [busy, setBusy] = useState(false);
  const args = preview(item.args);
  const result = preview(item.result);
  const label = TOOL_LABELS[item.name] ?? 'Tool call';
  return (
    <article className={`chat-tool status-${item.status}`} aria-label={`Tool call ${item.name}`} data-testid="tool-card">
      <header>
        <span className="tool-name mono">{item.name}</span>
        <span className="muted">{label}</span>
        <span className={`tool-status ${item.status}`}>
          {item.status === 'running' ? 'running…' : item.status === 'confirm' ? 'needs your approval' : item.status}
        </span>
      </header>
      {args && args !== '{}' ? (
        <details open={item.status === 'confirm'}>
          <summary>Arguments</summary>
          <pre className="mono" data-testid="tool-args">{args}</pre>
        </details>
      ) : null}
      {result ? (
        <details>
          <summary>Result</summary>
          <pre className="mono" data-testid="tool-result">{result}</pre>
        </details>
      ) : null}
      {item.jobId ? <p className="muted">Queued as job <span className="mono">{item.jobId}</span>.</p> : null}
      {item.status === 'confirm' ? (
        <div className="row">
          <button type="button" className="primary" disabled={busy} onClick={() => { setBusy(true); onConfirm(true); }}>Approve</button>
          <button type="button" disabled={busy} onClick={() => { setBusy(true); onConfirm(false); }}>Reject</button>
        </div>
      ) : null}
    </article>
  );
}

export function ChatSidebar() {
  const { api, assistantOpen, setAssistantOpen, form, setForm, setView, toast, upsertJob, setCurrentJobId, authVersion } = useStore();
  const formRef = useRef(form);
  formRef.current = form;
  const assistant = useMemo(() => new AssistantApi(api), [api]);
  const [status, setStatus] = useState<LlmStatus | null>(null);
  const [statusError, setStatusError] = useState('');
  const [sessions, setSessions] = useState<ChatSession[]>([]);
  const [current, setCurrent] = useState('');
  const [items, setItems] = useState<ChatItem[]>([]);
  const [text, setText] = useState('');
  const [streaming, setStreaming] = useState(false);
  const abort = useRef<AbortController | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const closeBtn = useRef<HTMLButtonElement>(null);
  const log = useRef<HTMLDivElement>(null);
  const loadedFor = useRef(-1); // the authVersion the status was loaded for

  const loadSessions = useCallback(async () => {
    try {
      const list = await assistant.sessions();
      setSessions(list);
      return list;
    } catch (e) {
      setStatusError(errorMessage(e));
      return [];
    }
  }, [assistant]);

  // First opened (or the key changed): the LLM's status and the sessions.
  useEffect(() => {
    if (!assistantOpen || loadedFor.current === authVersion) return;
    loadedFor.current = authVersion;
    assistant.status().then(async (s) => {
      setStatus(s);
      setStatusError('');
      if (s.available) {
        const list = await loadSessions();
        if (list.length && !current) setCurrent(list[0].id);
      }
    }).catch((e) => setStatusError(errorMessage(e)));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- once per opening / key
  }, [assistantOpen, assistant, authVersion]);

  // Opened: focus the message box (or, until it is usable, the close button).
  const ready = !!status?.available && status.configured;
  useEffect(() => {
    if (!assistantOpen) return;
    if (ready) input.current?.focus();
    else closeBtn.current?.focus();
  }, [assistantOpen, ready]);

  // A session chosen: its stored messages.
  useEffect(() => {
    if (!current || streaming) return;
    let stop = false;
    assistant.messages(current).then((m) => !stop && setItems(itemsOfMessages(m))).catch((e) => !stop && setItems([errorItem(errorMessage(e))]));
    return () => {
      stop = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- not again when a stream ends
  }, [assistant, current]);

  useEffect(() => {
    const el = log.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [items]);

  const onEvent = useCallback((ev: AssistantEvent) => {
    if (ev.type === 'set_params') {
      const { form: next, changed } = applyAssistantParams(formRef.current, ev.params);
      formRef.current = next;
      setForm(next);
      setItems((list) => applyEvent(list, ev, changed));
      toast(`The assistant set ${changed.join(', ') || 'nothing'} in Generate.`);
      return;
    }
    setItems((list) => applyEvent(list, ev));
  }, [setForm, toast]);

  const send = async (toolChoice?: string) => {
    const content = text.trim();
    if (!content || streaming) return;
    setText('');
    setItems((list) => [...list, userItem(content)]);
    setStreaming(true);
    const ctrl = new AbortController();
    abort.current = ctrl;
    try {
      let id = current;
      if (!id) {
        const s = await assistant.createSession(content.slice(0, 60));
        id = s.id;
        setSessions((list) => [s, ...list]);
        setCurrent(id);
      }
      await assistant.send(id, content, onEvent, ctrl.signal, toolChoice);
      void loadSessions();
    } catch (e) {
      if ((e as Error)?.name !== 'AbortError') setItems((list) => [...list, errorItem(errorMessage(e))]);
    } finally {
      setStreaming(false);
      abort.current = null;
      setItems((list) => applyEvent(list, { type: 'done', message: null, finishReason: '' }));
    }
  };

  const confirm = async (callId: string, approve: boolean) => {
    try {
      const r = await assistant.confirm(current, callId, approve);
      setItems((list) => list.map((i) => (i.kind === 'tool' && i.id === callId ? { ...i, status: approve ? 'approved' : 'declined', result: r.result ?? i.result, jobId: r.jobId || undefined } : i)));
      if (approve && r.jobId) {
        setCurrentJobId(r.jobId);
        api.job(r.jobId).then(upsertJob).catch(() => {});
        setView('generate');
        toast('Generation queued.');
      }
    } catch (e) {
      setItems((list) => [...list, errorItem(errorMessage(e))]);
    }
  };

  const newChat = () => {
    if (streaming) abort.current?.abort();
    setCurrent('');
    setItems([]);
    input.current?.focus();
  };

  const removeChat = async () => {
    if (!current || !window.confirm('Delete this chat?')) return;
    try {
      await assistant.deleteSession(current);
      setSessions((list) => list.filter((s) => s.id !== current));
      newChat();
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
  };

  return (
    <aside className="chat panel" id="assistant" aria-label="Assistant" hidden={!assistantOpen} data-testid="assistant">
      <header className="chat-head">
        <h2>Assistant</h2>
        <span className="muted chat-model" title={status?.model}>{status?.configured ? status.model.split('/').pop() : ''}</span>
        <button type="button" ref={closeBtn} className="icon" aria-label="Close the assistant (Alt+A)" title="Alt+A" onClick={() => setAssistantOpen(false)}>×</button>
      </header>
      {status?.available ? (
        <div className="row chat-sessions">
          <select aria-label="Chat session" value={current} onChange={(e) => setCurrent(e.target.value)} disabled={streaming} data-testid="chat-session">
            <option value="">New chat</option>
            {sessions.map((s) => <option key={s.id} value={s.id}>{s.title || s.id}</option>)}
          </select>
          <button type="button" onClick={newChat} disabled={!current && items.length === 0}>New</button>
          <button type="button" className="danger" onClick={() => void removeChat()} disabled={!current || streaming} aria-label="Delete this chat">Delete</button>
        </div>
      ) : null}
      {statusError ? <p className="error" role="alert">{statusError}</p> : null}
      {status && !status.available ? (
        <div className="chat-setup" data-testid="assistant-setup">
          <p>This server has no assistant (its API lacks <span className="mono">/api/v1/assistant</span>).</p>
          <p className="muted">Update Easel, then start it with a language model: <code>easel serve --llm PATH</code>.</p>
        </div>
      ) : null}
      {status?.available && !status.configured ? (
        <div className="chat-setup" data-testid="assistant-setup">
          <p>No language model is configured.</p>
          <p>Start the server with one: <code>easel serve --llm PATH</code>, where PATH is a GGUF file (e.g. SmolLM2-135M-Instruct) or a Hugging Face model folder.</p>
        </div>
      ) : null}
      <div className="chat-log" role="log" aria-live="polite" aria-label="Conversation" ref={log} data-testid="chat-log">
        {ready && items.length === 0 ? (
          <p className="muted chat-hint">Ask for ideas, a better prompt, a style, or to set up the form: “make it a watercolor lighthouse at dusk, 768×512”.</p>
        ) : null}
        {items.map((i) => {
          switch (i.kind) {
            case 'user':
              return <div key={i.key} className="chat-msg user"><span className="sr-only">You: </span>{i.text}</div>;
            case 'assistant':
              return <div key={i.key} className={`chat-msg assistant ${i.streaming ? 'streaming' : ''}`} data-testid="assistant-text"><span className="sr-only">Assistant: </span>{i.text}</div>;
            case 'tool':
              return <ToolCard key={i.key} item={i} onConfirm={(a) => void confirm(i.id, a)} />;
            case 'params':
              return (
                <article key={i.key} className="chat-tool status-done" data-testid="params-card" aria-label="Form parameters set">
                  <header><span className="tool-name mono">set_params</span><span className="muted">Filled in Generate: {i.changed.join(', ') || 'nothing new'}</span></header>
                  <button type="button" className="link" onClick={() => setView('generate')}>Show the form</button>
                </article>
              );
            case 'error':
              return <p key={i.key} className="error chat-error" role="alert">{i.text}</p>;
          }
        })}
        {streaming ? <p className="muted chat-typing" aria-label="The assistant is answering"><span className="spinner" /> thinking…</p> : null}
      </div>
      <form className="chat-input" onSubmit={(e) => { e.preventDefault(); void send(); }}>
        <textarea
          ref={input}
          aria-label="Message the assistant"
          placeholder={ready ? 'Message the assistant (Enter sends, Shift+Enter: new line)' : 'No language model configured'}
          rows={3}
          value={text}
          disabled={!ready}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.ctrlKey && !e.metaKey) {
              e.preventDefault();
              void send();
            }
          }}
          data-testid="chat-input"
        />
        <div className="chat-buttons">
          {streaming ? (
            <button type="button" className="danger" onClick={() => abort.current?.abort()}>Stop</button>
          ) : (
            <button type="submit" className="primary" disabled={!ready || !text.trim()}>Send</button>
          )}
          <button
            type="button"
            disabled={!ready || streaming || !text.trim()}
            title="The assistant fills the Generate form from your message (it must call set_generation_params)"
            onClick={() => void send('set_generation_params')}
            data-testid="chat-fill-form"
          >
            Fill the form
          </button>
        </div>
      </form>
    </aside>
  );
}
