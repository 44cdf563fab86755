/**
 * Hybrid runs (API.md §10.2): the root action executes in this process, every task call it makes goes to the
 * workers through the queue.
 */
import type { ActionDispatcher, ActionRequest } from "../controller/dispatcher.ts";
import type { Packed } from "../controller/packing.ts";
import type { RunState } from "../controller/run-state.ts";
import type { ActionRow } from "../store/store.ts";

export class HybridDispatcher implements ActionDispatcher {
  constructor(
    private readonly inline: ActionDispatcher,
    private readonly queued: ActionDispatcher,
  ) {}

  dispatch(run: RunState, req: ActionRequest, row: ActionRow): Promise<Packed> {
    return req.parent === null ? this.inline.dispatch(run, req, row) : this.queued.dispatch(run, req, row);
  }
}
