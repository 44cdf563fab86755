/**
 * `Action`: a handle on one action of a recorded run (`await run.action(name)`), with its typed inputs and
 * outputs decoded the way `Run.outputs()` decodes the run's.
 */
import { ActionNotFoundError } from "../errors.ts";
import type { ActionPhase, ActionRow } from "../store/store.ts";
import { buildActionTree, type ActionDetails } from "./action-details.ts";
import { getRuntime } from "./runtime.ts";
import { decodeStoredValue } from "./stored-value.ts";

/** JSON schemas of a task's inputs and output, recorded with its actions when the task declares them. */
export interface TaskInterfaceSchema {
  inputs?: object;
  output?: object;
}

/** An action's inputs and outputs, decoded, with the schemas of its task's interface. */
export interface ActionIo {
  /** `undefined` until the action has recorded its inputs. */
  inputs: unknown;
  /** `undefined` unless the action succeeded. */
  outputs: unknown;
  interface?: TaskInterfaceSchema;
}

export class Action {
  readonly runName: string;
  readonly name: string;

  /** @internal Use `run.action(name)`. */
  constructor(runName: string, name: string) {
    this.runName = runName;
    this.name = name;
  }

  async #row(): Promise<ActionRow> {
    const row = await getRuntime().store.getAction(this.runName, this.name);
    if (!row) throw notFound(this.runName, this.name);
    return row;
  }

  async phase(): Promise<ActionPhase> {
    return (await this.#row()).phase;
  }

  /** The action with its attempts, error and descendants. */
  async details(): Promise<ActionDetails> {
    const store = getRuntime().store;
    const [actions, attempts] = [await store.listActionSummaries(this.runName), await store.listAttempts(this.runName)];
    const node = buildActionTree(actions, attempts).byName.get(this.name);
    if (!node) throw notFound(this.runName, this.name);
    const cache = (await store.getAction(this.runName, this.name))?.cache;
    if (cache) node.cache = cache;
    return node;
  }

  /** The inputs the action was called with (`undefined` if it has not recorded them yet). */
  async inputs(): Promise<unknown> {
    return decodeStoredValue((await this.#row()).inputs);
  }

  /** The action's output (`undefined` unless it succeeded). Unlike `Run.outputs()`, it neither waits nor throws the action's error. */
  async outputs(): Promise<unknown> {
    return decodeStoredValue((await this.#row()).outputs);
  }

  /** Inputs, outputs and interface schemas from one read of the action. */
  async io(): Promise<ActionIo> {
    const row = await this.#row();
    return { inputs: await decodeStoredValue(row.inputs), outputs: await decodeStoredValue(row.outputs), ...(row.interface ? { interface: row.interface } : {}) };
  }
}

/** @internal */
export function notFound(runName: string, action: string): ActionNotFoundError {
  return new ActionNotFoundError(`Action "${action}" does not exist in run "${runName}". See its actions with: flyte get run ${runName}`);
}
