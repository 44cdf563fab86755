/**
 * Per-action HTML reports (← flyte-sdk `flyte.report`): a `Report` holds named tabs; the "main" tab
 * always exists. Rendering puts all tabs into one self-contained HTML document.
 */
import { ValidationError } from "../errors.ts";

const escapeHtml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export class Tab {
  readonly name: string;
  #html: string[] = [];
  constructor(name: string) {
    this.name = name;
  }
  /** Appends HTML to the tab. */
  log(html: string): void {
    this.#html.push(html);
  }
  /** Replaces the tab's content. */
  replace(html: string): void {
    this.#html = [html];
  }
  getHtml(): string {
    return this.#html.join("\n");
  }
}

export class Report {
  readonly name: string;
  readonly #tabs = new Map<string, Tab>();
  readonly tabs: ReadonlyMap<string, Tab> = this.#tabs;

  constructor(name: string) {
    this.name = name;
    this.#tabs.set("main", new Tab("main"));
  }

  hasContent(): boolean {
    for (const t of this.#tabs.values()) if (t.getHtml().length > 0) return true;
    return false;
  }

  getTab(name: string, o: { createIfMissing?: boolean } = {}): Tab {
    let tab = this.#tabs.get(name);
    if (!tab) {
      if (o.createIfMissing === false) {
        throw new ValidationError(`Report "${this.name}": tab "${name}" does not exist. Create it with getTab("${name}") (createIfMissing defaults to true).`);
      }
      tab = new Tab(name);
      this.#tabs.set(name, tab);
    }
    return tab;
  }

  /** One HTML document with every tab; the main tab is left out of the navigation when empty. */
  getFinalReport(): string {
    const tabs = [...this.#tabs.values()].filter((t) => t.name !== "main" || t.getHtml().length > 0);
    const nav = tabs.map((t, i) => `<button onclick="show(${i})">${escapeHtml(t.name)}</button>`).join("");
    const bodies = tabs.map((t, i) => `<section id="tab-${i}"${i === 0 ? "" : ' hidden'}>${t.getHtml()}</section>`).join("\n");
    return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(this.name)}</title>
<style>body{font-family:system-ui,sans-serif;margin:1.5rem}nav button{margin-right:.25rem}</style></head>
<body><nav>${nav}</nav>
${bodies}
<script>function show(i){document.querySelectorAll("section").forEach((s,j)=>s.hidden=j!==i)}</script>
</body></html>
`;
  }
}
