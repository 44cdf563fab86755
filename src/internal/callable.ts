/**
 * Lets a class be called without `new` (API.md §0: `Cache({...})` ≡ `new Cache({...})`).
 * `instanceof`, subclassing and static members keep working because the proxy forwards everything else.
 */
export type CallableClass<C extends abstract new (...args: never[]) => unknown> = C &
  ((...args: ConstructorParameters<C>) => InstanceType<C>);

export function callable<C extends new (...args: never[]) => unknown>(cls: C): CallableClass<C> {
  return new Proxy(cls, {
    apply(target, _this, args: unknown[]) {
      return Reflect.construct(target, args);
    },
  }) as CallableClass<C>;
}
