/**
 * Values that are there now or later. The file-tree API lets a node answer at once or with a
 * promise; chaining with `andThen` keeps the common case (an in-memory tree) free of promises
 * and microtasks, which is most of the server's cost per request.
 */
export type Maybe<T> = T | Promise<T>;

export function isPromise<T>(v: Maybe<T>): v is Promise<T> {
  return v instanceof Promise;
}

/** `f(v)` now if `v` is a value, after it resolves if it is a promise. */
export function andThen<T, R>(v: Maybe<T>, f: (value: T) => Maybe<R>): Maybe<R> {
  return isPromise(v) ? v.then(f) : f(v);
}

/** Runs `after` once `v` settles, whether it is a value, a promise, or a throw of `compute`. */
export function andFinally<T>(compute: () => Maybe<T>, after: () => void): Maybe<T> {
  let v: Maybe<T>;
  try {
    v = compute();
  } catch (e) {
    after();
    throw e;
  }
  if (!isPromise(v)) {
    after();
    return v;
  }
  return v.finally(after);
}
