/**
 * `map(task, items, { concurrency, returnExceptions, groupName })` (← flyte-sdk `flyte.map`): one child
 * action per item, at most `concurrency` in flight, results yielded in input order.
 */
import type { TaskTemplate } from "../authoring/task-template.ts";
import { ValidationError } from "../errors.ts";
import { Semaphore } from "../internal/semaphore.ts";
import { group } from "./group.ts";

export interface MapOptions {
  /** Children in flight at once; 0 = unlimited. @default 0 */
  concurrency?: number;
  /** Failed items yield their Error in place instead of rejecting. @default true */
  returnExceptions?: boolean;
  /** @default `${task.shortName}_map` */
  groupName?: string;
}

export interface MapResult<O> extends AsyncIterable<O | Error>, PromiseLike<(O | Error)[]> {
  collect(): Promise<(O | Error)[]>;
}

class Cancelled extends Error {}

export function map<I, O>(task: TaskTemplate<I, O>, items: Iterable<I> | AsyncIterable<I>, o: MapOptions = {}): MapResult<O> {
  const concurrency = o.concurrency ?? 0;
  if (!Number.isInteger(concurrency) || concurrency < 0) {
    throw new ValidationError(`map: concurrency must be an integer >= 0 (0 = unlimited), got ${JSON.stringify(concurrency)}.`, { field: "concurrency" });
  }
  if (typeof task !== "function") throw new ValidationError("map: the first argument must be a task.");
  const returnExceptions = o.returnExceptions ?? true;
  const groupName = o.groupName ?? `${task.shortName}_map`;
  let started: Promise<Array<Promise<O>>> | undefined;

  // Starts every child (bounded by `concurrency`) inside the group; each slot is a promise in input order.
  const start = () =>
    (started ??= group(groupName, async () => {
      const slots: Array<Promise<O>> = [];
      const inFlight = new Semaphore(concurrency);
      let cancelled = false;
      const call = (item: I) => (task as unknown as (i: I) => Promise<O>)(item);
      const launch = async (item: I): Promise<O> => {
        if (!inFlight.tryAcquire()) await inFlight.wait();
        try {
          if (cancelled) throw new Cancelled("cancelled");
          return await call(item);
        } catch (e) {
          if (!returnExceptions) cancelled = true;
          throw e;
        } finally {
          inFlight.release();
        }
      };
      for await (const item of items as AsyncIterable<I>) {
        const p = launch(item);
        p.catch(() => undefined);
        slots.push(p);
      }
      return slots;
    }));

  async function* iterate(): AsyncGenerator<O | Error> {
    const slots = await start();
    for (const slot of slots) {
      try {
        yield await slot;
      } catch (e) {
        if (!returnExceptions) throw e;
        yield e instanceof Error ? e : new Error(String(e));
      }
    }
  }

  const collect = async (): Promise<(O | Error)[]> => {
    const out: (O | Error)[] = [];
    for await (const v of iterate()) out.push(v);
    return out;
  };
  return {
    [Symbol.asyncIterator]: iterate,
    collect,
    then: (onFulfilled, onRejected) => collect().then(onFulfilled, onRejected),
  };
}
