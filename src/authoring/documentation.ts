/**
 * Human-facing metadata for a task: its description (`docs`) and links shown next to its runs (`links`).
 *
 * @example
 * ```ts
 * const grafana: Link = { name: "Grafana", getLink: ({ runName }) => `https://grafana.example.com/d/x?var-run=${runName}` };
 * env.task({ docs: new Documentation({ description: "Trains the model." }), links: grafana }, fn);
 * ```
 * @module
 */
import { ValidationError } from "../errors.ts";
import { callable } from "../internal/callable.ts";
import { checkKeys, show, truncateDescription } from "../internal/validate.ts";

/** What a `Link` may use to build its URL. */
export interface LinkParameters {
  runName: string;
  project: string;
  domain: string;
  context: Record<string, string>;
  parentActionName: string;
  actionName: string;
  podName: string;
}

/** A link (dashboard, logs, notebook) rendered next to each action of the task. */
export interface Link {
  name: string;
  iconUri?: string;
  getLink(p: LinkParameters): string;
}

class DocumentationImpl {
  /** At most 255 characters (longer text is truncated to 252 + "..."). */
  readonly description: string;

  constructor(o: { description: string }) {
    checkKeys(o, ["description"], "Documentation");
    if (typeof o?.description !== "string") {
      throw new ValidationError(`Documentation: description must be a string, got ${show(o?.description)}. Use new Documentation({ description: "..." }).`, {
        field: "description",
      });
    }
    this.description = truncateDescription(o.description, "Documentation")!;
    Object.freeze(this);
  }
}

/** A task's documentation (← flyte-sdk `Documentation`). */
export const Documentation = callable(DocumentationImpl);
export type Documentation = DocumentationImpl;
