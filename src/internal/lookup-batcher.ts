/**
 * Many lookups of one kind, answered by one query: lookups made in the same event-loop turn, or while the last
 * batch is in flight, go together in the next batch. With a database a round trip away, a worker starting dozens
 * of actions (or a parent woken for dozens of children) then pays one round trip for all of them, not one each.
 */
export class LookupBatcher<K, V> {
  #queued = new Map<string, { key: K; waiters: { resolve: (v: V) => void; reject: (e: unknown) => void }[] }>();
  #inFlight = false;
  #scheduled = false;

  /**
   * @param fetch answers a batch: the value of each key it knows (by `id(key)`); a key it does not return gets `missing`
   * @param id the identity of a key (lookups of the same key share one answer)
   */
  constructor(
    private readonly fetch: (keys: K[]) => Promise<Map<string, V>>,
    private readonly id: (key: K) => string,
    private readonly missing: V,
    private readonly maxBatch = 1_000,
  ) {}

  get(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const id = this.id(key);
      let q = this.#queued.get(id);
      if (!q) this.#queued.set(id, (q = { key, waiters: [] }));
      q.waiters.push({ resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#inFlight || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#run();
    });
  }

  async #run(): Promise<void> {
    if (this.#inFlight || this.#queued.size === 0) return;
    const batch = new Map<string, { key: K; waiters: { resolve: (v: V) => void; reject: (e: unknown) => void }[] }>();
    for (const [id, q] of this.#queued) {
      if (batch.size >= this.maxBatch) break;
      batch.set(id, q);
    }
    for (const id of batch.keys()) this.#queued.delete(id);
    this.#inFlight = true;
    try {
      const found = await this.fetch([...batch.values()].map((q) => q.key));
      for (const [id, q] of batch) for (const w of q.waiters) w.resolve(found.has(id) ? found.get(id)! : this.missing);
    } catch (e) {
      for (const q of batch.values()) for (const w of q.waiters) w.reject(e);
    } finally {
      this.#inFlight = false;
      if (this.#queued.size > 0) void this.#run();
    }
  }
}
