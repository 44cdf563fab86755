// The `flyte ui` front end: runs list, run page (action tree + timeline), action page (I/O, attempts, logs, report).
// Every user-provided string goes through JSX text nodes (escaped); nothing is inserted as HTML.
import { createContext, render } from "preact";
import { useContext, useEffect, useMemo, useRef, useState } from "preact/hooks";
import {
  api, ApiError, duration, ms, PHASES, post, TERMINAL,
  unpackRun, type ActionNode, type ActionPage, type Attempt, type CacheDetails, type PackedRun, type RunDetails, type RunSummary, type Time,
} from "./api.ts";
import "./styles.css";

// ---------- routing ----------
function usePath(): string {
  const [path, setPath] = useState(location.pathname + location.search);
  useEffect(() => {
    const on = () => setPath(location.pathname + location.search);
    addEventListener("popstate", on);
    addEventListener("flyte:navigate", on);
    return () => { removeEventListener("popstate", on); removeEventListener("flyte:navigate", on); };
  }, []);
  return path;
}
function navigate(to: string): void {
  history.pushState(null, "", to);
  dispatchEvent(new Event("flyte:navigate"));
  scrollTo(0, 0);
}
function Link(p: { href: string; children: unknown; class?: string; title?: string }) {
  return (
    <a href={p.href} class={p.class} title={p.title} onClick={(e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
      e.preventDefault();
      navigate(p.href);
    }}>{p.children as never}</a>
  );
}
const runHref = (run: string) => `/runs/${encodeURIComponent(run)}`;
const actionHref = (run: string, action: string) => `${runHref(run)}/actions/${encodeURIComponent(action)}`;

function App() {
  const path = usePath();
  const url = new URL(path, location.origin);
  const m = /^\/runs\/([^/]+)(?:\/actions\/([^/]+))?\/?$/.exec(url.pathname);
  let page;
  if (url.pathname === "/" || url.pathname === "/runs" || url.pathname === "/runs/") page = <RunsPage params={url.searchParams} />;
  else if (m && m[2]) page = <ActionView run={decodeURIComponent(m[1]!)} action={decodeURIComponent(m[2])} />;
  else if (m) page = <RunPage key={m[1]} run={decodeURIComponent(m[1]!)} />;
  else page = <NotFound what={`The page ${url.pathname}`} />;
  return (
    <>
      <header class="top"><Link href="/" class="brand">flyte</Link><span class="muted">runs, actions, logs</span></header>
      <main>{page}</main>
    </>
  );
}

function NotFound(p: { what: string; back?: string }) {
  return (
    <div class="notfound" data-testid="not-found">
      <h2>Not found</h2>
      <p>{p.what} does not exist.</p>
      <Link href={p.back ?? "/"}>{p.back ? "Back to the run" : "Back to the runs"}</Link>
    </div>
  );
}

function ErrorBox(p: { error: unknown; back?: string }) {
  const e = p.error as ApiError;
  if (e instanceof ApiError && e.status === 404) return <NotFound what={e.message.replace(/\.\s.*$/, "")} {...(p.back ? { back: p.back } : {})} />;
  return <div class="error-box">{String(e?.message ?? e)}</div>;
}

function Phase(p: { phase: string }) {
  return <span class={`phase phase-${p.phase}`} data-phase={p.phase}>{p.phase.replace(/_/g, " ")}</span>;
}

// ---------- runs ----------
const PAGE = 100;
function RunsPage(p: { params: URLSearchParams }) {
  const phase = p.params.get("phase") ?? "";
  const task = p.params.get("task") ?? "";
  const label = p.params.get("label") ?? "";
  const offset = Number(p.params.get("offset") ?? 0) || 0;
  const [data, setData] = useState<{ runs: RunSummary[]; hasMore: boolean } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [taskText, setTaskText] = useState(task);
  const [labelText, setLabelText] = useState(label);
  const query = (o: Record<string, string | number>) => {
    const q = new URLSearchParams();
    const all = { phase, task, label, offset: 0, ...o };
    for (const [k, v] of Object.entries(all)) if (v !== "" && v !== 0) q.set(k, String(v));
    const s = q.toString();
    return s ? `/?${s}` : "/";
  };
  useEffect(() => {
    let stop = false;
    const load = () => api<{ runs: RunSummary[]; hasMore: boolean }>(`/api/runs?${new URLSearchParams({ phase, task, label, offset: String(offset), limit: String(PAGE) })}`)
      .then((d) => { if (!stop) { setData(d); setError(null); } }, (e) => { if (!stop) setError(e); });
    void load();
    const t = setInterval(load, 2000);
    return () => { stop = true; clearInterval(t); };
  }, [phase, task, label, offset]);
  return (
    <section>
      <h1>Runs</h1>
      <form class="filters" onSubmit={(e) => { e.preventDefault(); navigate(query({ task: taskText.trim(), label: labelText.trim() })); }}>
        <label>Phase <select data-testid="filter-phase" value={phase} onChange={(e) => navigate(query({ phase: (e.target as HTMLSelectElement).value }))}>
          <option value="">any</option>
          {PHASES.map((ph) => <option value={ph}>{ph.replace(/_/g, " ")}</option>)}
        </select></label>
        <label>Task <input data-testid="filter-task" value={taskText} placeholder="name contains…" onInput={(e) => setTaskText((e.target as HTMLInputElement).value)} /></label>
        <label>Label <input data-testid="filter-label" value={labelText} placeholder="key=value" onInput={(e) => setLabelText((e.target as HTMLInputElement).value)} /></label>
        <button type="submit">Filter</button>
        {(phase || task || label) && <Link href="/">clear</Link>}
      </form>
      {error ? <ErrorBox error={error} /> : !data ? <p class="muted">Loading…</p> : data.runs.length === 0 ? (
        <p class="muted" data-testid="no-runs">{phase || task || label ? "No runs match these filters." : "No runs yet. Start one with: flyte run <file.ts> <task>"}</p>
      ) : (
        <>
          <table class="runs" data-testid="runs-table">
            <thead><tr><th>Run</th><th>Task</th><th>Phase</th><th>Created</th><th>Duration</th><th>Labels</th></tr></thead>
            <tbody>
              {data.runs.map((r) => (
                <tr key={r.name} data-run={r.name}>
                  <td><Link href={runHref(r.name)}>{r.name}</Link>{r.recoverFrom && <span class="tag" title={`recovered from ${r.recoverFrom}`}>recovery</span>}</td>
                  <td class="task">{r.taskName}</td>
                  <td><Phase phase={r.phase} /></td>
                  <td class="muted">{new Date(r.createdAt).toLocaleString()}</td>
                  <td>{duration(r.startedAt, r.endedAt)}</td>
                  <td>{Object.entries(r.labels).map(([k, v]) => <span class="tag">{k}={v}</span>)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="pager">
            {offset > 0 && <Link href={query({ offset: Math.max(0, offset - PAGE) })}>← newer</Link>}
            <span class="muted">{offset + 1}–{offset + data.runs.length}</span>
            {data.hasMore && <Link href={query({ offset: offset + PAGE })}>older →</Link>}
          </div>
        </>
      )}
    </section>
  );
}

// ---------- run page: tree + timeline in one virtualised list ----------
type Row =
  | { kind: "action"; key: string; depth: number; node: ActionNode; expandable: boolean; open: boolean }
  | { kind: "fanout"; key: string; depth: number; task: string; nodes: ActionNode[]; open: boolean }
  | { kind: "group"; key: string; depth: number; group: string; nodes: ActionNode[]; open: boolean };

const FANOUT_MIN = 5;

function counts(nodes: ActionNode[]): string {
  const c: Record<string, number> = {};
  for (const n of nodes) c[n.phase] = (c[n.phase] ?? 0) + 1;
  return Object.entries(c).map(([k, v]) => `${v} ${k.replace(/_/g, " ")}`).join(", ");
}

function flatten(root: ActionNode, open: Set<string>, closed: Set<string>): Row[] {
  const rows: Row[] = [];
  const walk = (n: ActionNode, depth: number) => {
    const key = n.name;
    const isOpen = n.children.length > 0 && !closed.has(key);
    rows.push({ kind: "action", key, depth, node: n, expandable: n.children.length > 0, open: isOpen });
    if (isOpen) children(n.children, depth + 1, key);
  };
  const children = (list: ActionNode[], depth: number, parentKey: string) => {
    // Groups first split the children; inside each, runs of the same task of FANOUT_MIN or more collapse.
    const byGroup = new Map<string, ActionNode[]>();
    for (const c of list) {
      const g = c.group ?? "";
      (byGroup.get(g) ?? byGroup.set(g, []).get(g)!).push(c);
    }
    for (const [g, members] of byGroup) {
      let d = depth;
      if (g) {
        const key = `${parentKey}/g:${g}`;
        const gOpen = !closed.has(key);
        rows.push({ kind: "group", key, depth, group: g, nodes: members, open: gOpen });
        if (!gOpen) continue;
        d = depth + 1;
      }
      const byTask = new Map<string, ActionNode[]>();
      for (const c of members) (byTask.get(c.taskName) ?? byTask.set(c.taskName, []).get(c.taskName)!).push(c);
      const emitted = new Set<string>();
      for (const c of members) {
        const same = byTask.get(c.taskName)!;
        if (same.length >= FANOUT_MIN) {
          if (emitted.has(c.taskName)) continue;
          emitted.add(c.taskName);
          const key = `${parentKey}/g:${g}/f:${c.taskName}`;
          const fOpen = open.has(key);
          rows.push({ kind: "fanout", key, depth: d, task: c.taskName, nodes: same, open: fOpen });
          if (fOpen) for (const s of same) walk(s, d + 1);
        } else walk(c, d);
      }
    }
  };
  walk(root, 0);
  return rows;
}

/** The chain of actions that decided the run's end: from the root, always the child that ended last. */
function criticalPath(root: ActionNode): Set<string> {
  const path = new Set<string>();
  let n: ActionNode | undefined = root;
  while (n) {
    path.add(n.name);
    let last: ActionNode | undefined;
    for (const c of n.children) if (!last || (ms(c.endedAt) ?? Infinity) > (ms(last.endedAt) ?? Infinity)) last = c;
    n = last;
  }
  return path;
}

function span(root: ActionNode, now: number): [number, number] {
  let lo = Infinity, hi = -Infinity;
  const visit = (n: ActionNode) => {
    for (const a of n.attempts) {
      const s = ms(a.startedAt);
      if (s !== undefined) { lo = Math.min(lo, s); hi = Math.max(hi, ms(a.endedAt) ?? now); }
    }
    const s = ms(n.startedAt);
    if (s !== undefined) { lo = Math.min(lo, s); hi = Math.max(hi, ms(n.endedAt) ?? now); }
    n.children.forEach(visit);
  };
  visit(root);
  if (lo === Infinity) return [now, now + 1];
  return [lo, Math.max(hi, lo + 1)];
}

const ROW_H = 28;

function RunPage(p: { run: string }) {
  const [run, setRun] = useState<RunDetails | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState(() => new Set<string>());
  const [closed, setClosed] = useState(() => new Set<string>());
  const [sel, setSel] = useState(0);
  const [busy, setBusy] = useState("");
  const [notice, setNotice] = useState("");
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const t = performance.now();
        const d = unpackRun(await api<PackedRun>(`/api/runs/${encodeURIComponent(p.run)}`));
        if (stop) return;
        setRun(d);
        setError(null);
        // Poll while it runs; a big tree takes longer to read, so wait in proportion.
        if (!d.terminal) timer = setTimeout(load, Math.max(500, 3 * (performance.now() - t)));
      } catch (e) {
        if (!stop) setError(e);
      }
    };
    void load();
    return () => { stop = true; clearTimeout(timer); };
  }, [p.run, busy]);
  const rows = useMemo(() => (run ? flatten(run.root, open, closed) : []), [run, open, closed]);
  const crit = useMemo(() => (run ? criticalPath(run.root) : new Set<string>()), [run]);
  const [t0, t1] = useMemo(() => (run ? span(run.root, Date.now()) : [0, 1]), [run]);
  if (error) return <ErrorBox error={error} />;
  if (!run) return <p class="muted">Loading…</p>;

  const toggle = (r: Row, want?: boolean) => {
    if (r.kind === "action" && !r.expandable) return;
    const isOpen = r.open;
    const next = want ?? !isOpen;
    if (next === isOpen) return;
    if (r.kind === "fanout") { const s = new Set(open); next ? s.add(r.key) : s.delete(r.key); setOpen(s); }
    else { const s = new Set(closed); next ? s.delete(r.key) : s.add(r.key); setClosed(s); }
  };
  const onKey = (e: KeyboardEvent) => {
    const r = rows[sel];
    if (e.key === "ArrowDown" || e.key === "j") { setSel(Math.min(rows.length - 1, sel + 1)); e.preventDefault(); }
    else if (e.key === "ArrowUp" || e.key === "k") { setSel(Math.max(0, sel - 1)); e.preventDefault(); }
    else if (e.key === "ArrowRight" && r) { toggle(r, true); e.preventDefault(); }
    else if (e.key === "ArrowLeft" && r) { toggle(r, false); e.preventDefault(); }
    else if (e.key === "Enter" && r) {
      if (r.kind === "action") navigate(actionHref(run.name, r.node.name));
      else toggle(r);
      e.preventDefault();
    }
  };
  const abort = async () => {
    if (!confirm(`Abort run ${run.name}?`)) return;
    setBusy("abort");
    try { await post(`/api/runs/${encodeURIComponent(run.name)}/abort`); setNotice("Abort requested."); }
    catch (e) { setNotice(`Abort failed: ${(e as Error).message}`); }
    setBusy("");
  };
  const recover = async () => {
    if (!confirm(`Start a new run that recovers ${run.name}?`)) return;
    setBusy("recover");
    try { const r = await post<{ name: string }>(`/api/runs/${encodeURIComponent(run.name)}/recover`); navigate(runHref(r.name)); }
    catch (e) { setNotice(`Recover failed: ${(e as Error).message}`); }
    setBusy("");
  };
  return (
    <section>
      <div class="crumbs"><Link href="/">Runs</Link> / <span>{run.name}</span></div>
      <div class="run-head">
        <h1 data-testid="run-name">{run.name}</h1>
        <Phase phase={run.phase} />
        <span class="task">{run.taskName}</span>
        <span class="muted">{duration(run.startedAt, run.endedAt)}</span>
        {run.recoverFrom && <span class="tag">recovers <Link href={runHref(run.recoverFrom)}>{run.recoverFrom}</Link></span>}
        <span class="spacer" />
        {!run.terminal && <button class="danger" data-testid="abort" disabled={!!busy} onClick={abort}>Abort</button>}
        {run.terminal && run.recoverable && <button data-testid="recover" disabled={!!busy} onClick={recover}>Recover</button>}
      </div>
      {notice && <div class="notice">{notice}</div>}
      {run.error && <div class="error-box"><b>{run.error.name}</b>: {run.error.message}</div>}
      <div class="legend muted">
        <span>{countAll(run.root)} actions</span>
        <span><i class="sw crit" /> critical path</span><span><i class="sw retry" /> failed attempt</span>
        <span>↑↓ move · ←→ collapse/expand · Enter open</span>
      </div>
      <VirtualTree rows={rows} sel={sel} setSel={setSel} onKey={onKey} toggle={toggle} run={run.name} crit={crit} t0={t0} t1={t1} />
    </section>
  );
}

function countAll(n: ActionNode): number {
  let c = 1;
  for (const k of n.children) c += countAll(k);
  return c;
}

function VirtualTree(p: {
  rows: Row[]; sel: number; setSel: (n: number) => void; onKey: (e: KeyboardEvent) => void; toggle: (r: Row) => void;
  run: string; crit: Set<string>; t0: number; t1: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const height = Math.min(640, Math.max(ROW_H * 4, p.rows.length * ROW_H));
  const first = Math.max(0, Math.floor(top / ROW_H) - 10);
  const last = Math.min(p.rows.length, Math.ceil((top + height) / ROW_H) + 10);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const y = p.sel * ROW_H;
    if (y < el.scrollTop) el.scrollTop = y;
    else if (y + ROW_H > el.scrollTop + height) el.scrollTop = y + ROW_H - height;
  }, [p.sel]);
  const bar = (s?: Time, e?: Time) => {
    const a = ms(s);
    if (a === undefined) return undefined;
    const b = ms(e) ?? Date.now();
    const w = p.t1 - p.t0;
    return { left: `${((a - p.t0) / w) * 100}%`, width: `${Math.max(0.3, ((b - a) / w) * 100)}%` };
  };
  return (
    <div class="tree" data-testid="tree" tabIndex={0} role="tree" ref={box} style={{ height: `${height}px` }}
      onScroll={(e) => setTop((e.target as HTMLDivElement).scrollTop)} onKeyDown={p.onKey}>
      <div style={{ height: `${p.rows.length * ROW_H}px`, position: "relative" }}>
        {p.rows.slice(first, last).map((r, i) => {
          const idx = first + i;
          const cls = `row ${idx === p.sel ? "sel" : ""} ${r.kind}`;
          const style = { top: `${idx * ROW_H}px`, height: `${ROW_H}px` };
          const caret = (r.kind !== "action" || r.expandable)
            ? <button class="caret" aria-label={r.open ? "collapse" : "expand"} onClick={(e) => { e.stopPropagation(); p.toggle(r); }}>{r.open ? "▾" : "▸"}</button>
            : <span class="caret" />;
          const indent = { paddingLeft: `${r.depth * 16 + 4}px` };
          if (r.kind === "action") {
            const n = r.node;
            return (
              <div key={r.key} class={cls} style={style} role="treeitem" aria-expanded={r.expandable ? r.open : undefined} data-action={n.name} onClick={() => p.setSel(idx)}>
                <div class="name" style={indent}>
                  {caret}<Link href={actionHref(p.run, n.name)} title={n.taskName}>{n.shortName}</Link>
                  {n.cacheHit && <span class="tag cache" title="cache hit">cache</span>}
                  {n.recovered && <span class="tag recovered" title="recovered from an earlier run">recovered</span>}
                  {n.attempts.length > 1 && <span class="tag">{n.attempts.length} attempts</span>}
                </div>
                <div class="ph"><Phase phase={n.phase} /></div>
                <div class="dur muted">{duration(n.startedAt, n.endedAt)}</div>
                <div class="gantt">
                  {n.attempts.length > 0 ? n.attempts.map((a: Attempt) => {
                    const b = bar(a.startedAt, a.endedAt);
                    return b && <div class={`bar phase-${a.phase} ${p.crit.has(n.name) ? "crit" : ""}`} style={b} title={`attempt ${a.attempt}: ${a.phase} ${duration(a.startedAt, a.endedAt)}`} />;
                  }) : (() => { const b = bar(n.startedAt, n.endedAt); return b && <div class={`bar phase-${n.phase} ${p.crit.has(n.name) ? "crit" : ""}`} style={b} />; })()}
                </div>
              </div>
            );
          }
          const label = r.kind === "fanout" ? <><b>{r.task}</b> <span class="count" data-testid="fanout-count">×{r.nodes.length}</span></> : <><span class="tag">group</span> <b>{r.group}</b> <span class="count">{r.nodes.length} actions</span></>;
          const starts = r.nodes.map((n) => ms(n.startedAt)).filter((x): x is number => x !== undefined);
          const ends = r.nodes.map((n) => ms(n.endedAt) ?? Date.now());
          const b = starts.length ? bar(new Date(Math.min(...starts)).toISOString(), new Date(Math.max(...ends)).toISOString()) : undefined;
          return (
            <div key={r.key} class={cls} style={style} role="treeitem" aria-expanded={r.open} data-fanout={r.kind === "fanout" ? r.task : undefined} onClick={() => { p.setSel(idx); p.toggle(r); }}>
              <div class="name" style={indent}>{caret}{label}</div>
              <div class="ph muted small">{counts(r.nodes)}</div>
              <div class="dur" />
              <div class="gantt">{b && <div class="bar span" style={b} />}</div>
            </div>
          );
        })}
      </div>
    </div>
  );
}

// ---------- action page ----------
function ActionView(p: { run: string; action: string }) {
  const [a, setA] = useState<ActionPage | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const d = await api<ActionPage>(`/api/runs/${encodeURIComponent(p.run)}/actions/${encodeURIComponent(p.action)}`);
        if (stop) return;
        setA(d); setError(null);
        if (!TERMINAL.includes(d.phase)) timer = setTimeout(load, 1000);
      } catch (e) { if (!stop) setError(e); }
    };
    void load();
    return () => { stop = true; clearTimeout(timer); };
  }, [p.run, p.action]);
  if (error) return <ErrorBox error={error} back={runHref(p.run)} />;
  if (!a) return <p class="muted">Loading…</p>;
  return (
    <section>
      <div class="crumbs"><Link href="/">Runs</Link> / <Link href={runHref(p.run)}>{p.run}</Link> / <span>{a.name}</span></div>
      <div class="run-head">
        <h1 data-testid="action-name">{a.shortName}</h1><Phase phase={a.phase} />
        <span class="task">{a.taskName}</span><span class="muted">{a.name}</span>
        <span class="muted">{duration(a.startedAt, a.endedAt)}</span>
        {a.cacheHit && <span class="tag cache">cache hit</span>}
        {a.recovered && <span class="tag recovered">recovered</span>}
        {a.group && <span class="tag">group {a.group}</span>}
      </div>
      {a.error && <ErrorView error={a.error} />}
      <BlobBase.Provider value={`/api/runs/${encodeURIComponent(p.run)}/actions/${encodeURIComponent(a.name)}/blob`}>
        <div class="cols">
          <div class="panel"><h3>Inputs</h3><Value v={a.io.inputs} /></div>
          <div class="panel"><h3>Outputs</h3>{a.io.outputs === undefined ? <span class="muted">none yet</span> : <Value v={a.io.outputs} testid="outputs" />}</div>
        </div>
      </BlobBase.Provider>
      {a.cache && <CacheView cache={a.cache} />}
      <div class="panel">
        <h3>Attempts</h3>
        {a.attempts.length === 0 ? <span class="muted">none yet</span> : (
          <table class="attempts"><tbody>
            {a.attempts.map((t) => (
              <tr><td>#{t.attempt}</td><td><Phase phase={t.phase} /></td><td class="muted">{t.startedAt ? new Date(t.startedAt).toLocaleTimeString() : ""}</td>
                <td>{duration(t.startedAt, t.endedAt)}</td><td>{t.error && <ErrorView error={t.error} />}</td></tr>
            ))}
          </tbody></table>
        )}
      </div>
      {a.childCount > 0 && (
        <div class="panel"><h3>Calls ({a.childCount})</h3>
          <ul class="children">{a.children.map((c) => <li><Link href={actionHref(p.run, c.name)}>{c.shortName}</Link> <Phase phase={c.phase} /></li>)}</ul>
          {a.childCount > a.children.length && <span class="muted">and {a.childCount - a.children.length} more (see the run's tree)</span>}
        </div>
      )}
      {a.reportUri && (
        <div class="panel"><h3>Report</h3>
          <iframe class="report" data-testid="report" sandbox="" title="report" src={`/api/runs/${encodeURIComponent(p.run)}/actions/${encodeURIComponent(a.name)}/report`} />
        </div>
      )}
      <Logs run={p.run} action={a.name} attempts={a.attempts.map((t) => t.attempt)} />
    </section>
  );
}

const OUTCOME: Record<CacheDetails["outcome"], string> = {
  hit: "an entry under this key answered: the action did not run.",
  miss: "no entry under this key: the action ran, and its output is written under the key when it succeeds.",
  overwrite: "no lookup: the action ran, and its output replaces the entry under the key.",
  disabled: "",
};

/** Why the action hit or missed its cache: the outcome and every part of the key. */
function CacheView(p: { cache: CacheDetails }) {
  const c = p.cache;
  return (
    <div class="panel" data-testid="cache">
      <h3 class={c.outcome === "disabled" && !c.reason ? "flush" : ""}>Cache <span class={`tag cache-${c.outcome}`} data-testid="cache-outcome">{c.outcome}</span> <span class="muted small">behavior {c.behavior}</span></h3>
      {c.outcome === "disabled" ? (c.reason && <p class="cache-why">Why: {c.reason}.</p>) : <p class="cache-why">{c.outcome[0]!.toUpperCase() + c.outcome.slice(1)}: {OUTCOME[c.outcome]}{c.reason ? ` Why: ${c.reason}.` : ""}
        {c.source && <> The entry was written by <Link href={actionHref(c.source.runName, c.source.action)}>{c.source.runName} / {c.source.action}</Link>.</>}</p>}
      {c.key && (
        <table class="cache-parts"><tbody>
          <tr><th>key</th><td class="hash" data-testid="cache-key">{c.key}</td></tr>
          <tr><td colSpan={2} class="muted small">key = sha256(inputs hash + task name + interface hash + cache version)</td></tr>
          <tr><th>task name</th><td class="task">{c.taskName}</td></tr>
          <tr><th>cache version</th><td><span class="hash">{c.cacheVersion}</span> <span class="muted small">{c.versionOverride !== undefined ? "(versionOverride)" : "(hash of the task's cache policies: its function body by default)"}</span></td></tr>
          <tr><th>interface hash</th><td class="hash">{c.interfaceHash || <span class="muted">none (the task declares no schemas)</span>}</td></tr>
          <tr><th>inputs hash</th><td class="hash" data-testid="cache-inputs-hash">{c.inputsHash}</td></tr>
          {(c.inputs ?? []).map((i) => <tr data-testid="cache-input"><th class="sub">input {i.name}</th><td class="hash">{i.hash}</td></tr>)}
          {(c.ignoredInputs ?? []).length > 0 && <tr><th>ignored inputs</th><td>{c.ignoredInputs!.join(", ")}</td></tr>}
          {c.serialize && <tr><th>serialize</th><td>identical concurrent calls run once</td></tr>}
        </tbody></table>
      )}
    </div>
  );
}

function ErrorView(p: { error: { name: string; code: string; message: string; stack?: string } }) {
  return (
    <div class="error-box" data-testid="error">
      <b>{p.error.name}</b>{p.error.code !== p.error.name ? ` (${p.error.code})` : ""}: {p.error.message}
      {p.error.stack && <details><summary>stack trace</summary><pre>{p.error.stack}</pre></details>}
    </div>
  );
}

/** A value rendered by its type; long strings, arrays and objects start collapsed. */
function Value(p: { v: unknown; depth?: number; testid?: string }) {
  const v = p.v;
  const depth = p.depth ?? 0;
  if (v === null || v === undefined) return <span class="v-null" data-testid={p.testid}>{String(v)}</span>;
  if (typeof v === "string") {
    if (v.length > 200) return <details data-testid={p.testid}><summary class="v-str">"{v.slice(0, 80)}…" ({v.length} chars)</summary><pre>{v}</pre></details>;
    return <span class="v-str" data-testid={p.testid}>"{v}"</span>;
  }
  if (typeof v === "number" || typeof v === "boolean") return <span class="v-num" data-testid={p.testid}>{String(v)}</span>;
  if (Array.isArray(v)) {
    if (v.length === 0) return <span data-testid={p.testid}>[]</span>;
    const body = <ol start={0} class="v-list">{v.slice(0, 500).map((x) => <li><Value v={x} depth={depth + 1} /></li>)}{v.length > 500 && <li class="muted">… {v.length - 500} more</li>}</ol>;
    return <details open={depth < 2 && v.length <= 20} data-testid={p.testid}><summary class="muted">array ({v.length})</summary>{body}</details>;
  }
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    const ref = o.$flyte;
    if ((ref === "file" || ref === "dir") && typeof o.path === "string") {
      return ref === "file" ? <FileRef uri={o.path} name={o.name as string | undefined} testid={p.testid} /> : <DirRef uri={o.path} name={o.name as string | undefined} testid={p.testid} />;
    }
    if (ref === "dataframe" && typeof o.uri === "string") {
      return <FrameRef uri={o.uri} format={String(o.format)} numRows={o.numRows as number | undefined} testid={p.testid} />;
    }
    if (typeof o.uri === "string" || typeof o.path === "string") {
      // File / Dir / DataFrame references: show where they live.
      return <span class="v-ref" data-testid={p.testid}><span class="tag">{String(o.type ?? o.format ?? "blob")}</span> {String(o.uri ?? o.path)}</span>;
    }
    const entries = Object.entries(o);
    if (entries.length === 0) return <span data-testid={p.testid}>{"{}"}</span>;
    const body = <table class="v-obj"><tbody>{entries.slice(0, 500).map(([k, x]) => <tr><th>{k}</th><td><Value v={x} depth={depth + 1} /></td></tr>)}</tbody></table>;
    if (depth === 0 && entries.length <= 50) return <div data-testid={p.testid}>{body}</div>;
    return <details open={depth < 2 && entries.length <= 20} data-testid={p.testid}><summary class="muted">object ({entries.length} keys)</summary>{body}</details>;
  }
  return <span data-testid={p.testid}>{String(v)}</span>;
}

// ---------- File / Dir / DataFrame values ----------
/** The blob endpoint of the action whose values are shown (src/ui/blobs.ts serves only URIs they hold). */
const BlobBase = createContext("");
const blobUrl = (base: string, uri: string, view: string) => `${base}?${new URLSearchParams({ uri, view })}`;
const baseName = (uri: string) => uri.split("/").filter(Boolean).pop() ?? uri;
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

type Loaded<T> = { state: "idle" } | { state: "loading" } | { state: "ok"; value: T } | { state: "error"; message: string };
/** A value fetched on first open, kept while the component lives. */
function useLazy<T>(url: string): [Loaded<T>, () => void] {
  const [v, setV] = useState<Loaded<T>>({ state: "idle" });
  const load = () => {
    if (v.state !== "idle") return;
    setV({ state: "loading" });
    api<T>(url).then((value) => setV({ state: "ok", value }), (e: unknown) => setV({ state: "error", message: message(e) }));
  };
  return [v, load];
}

function Pending(p: { v: Loaded<unknown> }) {
  if (p.v.state === "loading") return <span class="muted">Loading…</span>;
  if (p.v.state === "error") return <span class="error-box" data-testid="blob-error">{p.v.message}</span>;
  return null;
}

interface TextPreview { kind: "text" | "binary"; text?: string; truncated: boolean }
function FileRef(p: { uri: string; name?: string; testid?: string }) {
  const base = useContext(BlobBase);
  const [open, setOpen] = useState(false);
  const [preview, load] = useLazy<TextPreview>(blobUrl(base, p.uri, "text"));
  return (
    <div class="blob" data-testid={p.testid ?? "blob-file"} data-uri={p.uri}>
      <span class="tag">file</span> <b>{p.name ?? baseName(p.uri)}</b>
      <button class="link" data-testid="blob-preview" onClick={() => { setOpen(!open); load(); }}>{open ? "hide" : "preview"}</button>
      <a href={blobUrl(base, p.uri, "download")} download data-testid="blob-download">download</a>
      <div class="muted small uri">{p.uri}</div>
      {open && (preview.state === "ok"
        ? (preview.value.kind === "text"
          ? <pre class="blob-text" data-testid="blob-text">{preview.value.text}{preview.value.truncated ? "\n… (first 64 KB shown; download for the rest)" : ""}</pre>
          : <span class="muted" data-testid="blob-binary">binary file: download it to look inside</span>)
        : <Pending v={preview} />)}
    </div>
  );
}

function DirRef(p: { uri: string; name?: string; testid?: string }) {
  const base = useContext(BlobBase);
  const [open, setOpen] = useState(false);
  const [list, load] = useLazy<{ entries: { path: string; uri: string }[]; truncated: boolean }>(blobUrl(base, p.uri, "list"));
  return (
    <div class="blob" data-testid={p.testid ?? "blob-dir"} data-uri={p.uri}>
      <span class="tag">dir</span> <b>{p.name ?? baseName(p.uri)}</b>
      <button class="link" data-testid="blob-list" onClick={() => { setOpen(!open); load(); }}>{open ? "hide files" : "list files"}</button>
      <div class="muted small uri">{p.uri}</div>
      {open && (list.state === "ok"
        ? (list.value.entries.length === 0 ? <span class="muted">empty</span> : (
          <ul class="dir-list" data-testid="dir-entries">
            {list.value.entries.map((e) => <li><FileRef uri={e.uri} name={e.path} /></li>)}
            {list.value.truncated && <li class="muted">… more files not listed</li>}
          </ul>))
        : <Pending v={list} />)}
    </div>
  );
}

const cellText = (v: unknown) => (v === null ? "null" : typeof v === "object" ? JSON.stringify(v) : String(v));
interface FrameRows { columns: { name: string; type: string }[]; rows: unknown[][]; truncated: boolean; numRows?: number }
function FrameRef(p: { uri: string; format: string; numRows?: number; testid?: string }) {
  const base = useContext(BlobBase);
  const [open, setOpen] = useState(false);
  const [rows, load] = useLazy<FrameRows>(blobUrl(base, p.uri, "rows"));
  return (
    <div class="blob" data-testid={p.testid ?? "blob-frame"} data-uri={p.uri}>
      <span class="tag">dataframe</span> <b>{p.format}</b>{p.numRows !== undefined && <span class="muted"> {p.numRows} rows</span>}
      <button class="link" data-testid="blob-rows" onClick={() => { setOpen(!open); load(); }}>{open ? "hide rows" : "first rows"}</button>
      <a href={blobUrl(base, p.uri, "download")} download data-testid="blob-download">download</a>
      <div class="muted small uri">{p.uri}</div>
      {open && (rows.state === "ok" ? (
        <div class="frame">
          <table class="frame" data-testid="frame-table">
            <thead><tr>{rows.value.columns.map((c) => <th title={c.type}>{c.name}</th>)}</tr></thead>
            <tbody>{rows.value.rows.map((r) => <tr>{r.map((v) => <td>{cellText(v)}</td>)}</tr>)}</tbody>
          </table>
          {rows.value.truncated && <span class="muted small">first {rows.value.rows.length} rows{rows.value.numRows !== undefined ? ` of ${rows.value.numRows}` : ""}</span>}
        </div>
      ) : <Pending v={rows} />)}
    </div>
  );
}

interface Line { time: number; action: string; attempt: number; stream: string; message: string }
function Logs(p: { run: string; action: string; attempts: number[] }) {
  const [attempt, setAttempt] = useState<string>("");
  const [lines, setLines] = useState<Line[]>([]);
  const [state, setState] = useState("connecting");
  const [follow, setFollow] = useState(true);
  const [search, setSearch] = useState("");
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    setLines([]);
    setState("live");
    const q = new URLSearchParams({ action: p.action, ...(attempt ? { attempt } : {}) });
    const es = new EventSource(`/api/runs/${encodeURIComponent(p.run)}/logs?${q}`);
    es.addEventListener("lines", (e) => setLines((old) => old.concat(JSON.parse((e as MessageEvent).data) as Line[])));
    es.addEventListener("end", () => { setState("ended"); es.close(); });
    es.addEventListener("failed", (e) => { setState(`failed: ${(e as MessageEvent).data}`); es.close(); });
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) setState("disconnected"); };
    return () => es.close();
  }, [p.run, p.action, attempt]);
  useEffect(() => { if (follow && box.current) box.current.scrollTop = box.current.scrollHeight; }, [lines, follow]);
  const shown = search ? lines.filter((l) => l.message.toLowerCase().includes(search.toLowerCase())) : lines;
  return (
    <div class="panel">
      <h3>Logs <span class="muted small" data-testid="logs-state">{state}</span></h3>
      <div class="filters">
        <label>Attempt <select value={attempt} onChange={(e) => setAttempt((e.target as HTMLSelectElement).value)}>
          <option value="">all</option>{p.attempts.map((n) => <option value={String(n)}>#{n}</option>)}
        </select></label>
        <label><input type="checkbox" data-testid="logs-follow" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> follow</label>
        <label>Search <input data-testid="logs-search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} /></label>
        <span class="muted small">{shown.length} of {lines.length} lines</span>
      </div>
      <pre class="logs" data-testid="logs" ref={box}>
        {shown.length === 0 ? <span class="muted">no output</span> : shown.map((l) => (
          <div class={`log ${l.stream}`}><span class="muted">{new Date(l.time).toLocaleTimeString()} #{l.attempt} </span><span class="msg">{l.message}</span></div>
        ))}
      </pre>
    </div>
  );
}

render(<App />, document.getElementById("app")!);
