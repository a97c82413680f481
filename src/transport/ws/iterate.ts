/**
 * The stock path for the application's own subscriptions (anything that
 * is not a topic subscription): iterate the observable or async iterable
 * the procedure returned and send each value, as tRPC's own adapter does.
 * @module
 */
import { isTrackedEnvelope, TRPCError } from '@trpc/server';
import { isObservable, observableToAsyncIterable } from '@trpc/server/observable';

/** A result of one subscription, for the connection to send. */
export type SubscriptionResult = { type: 'started' } | { type: 'data'; id?: string; data: unknown };

/** Whether `value` is an async iterable. */
export function isAsyncIterableValue(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** Whether a procedure returned something to iterate (what queries and mutations must not). */
export function isIterableResult(value: unknown): boolean {
  return isObservable(value) || isAsyncIterableValue(value);
}

/**
 * Sends `started`, then every value of `result` (tracked ones with their
 * id), until it ends or `signal` aborts; the iterator is returned either way.
 * @throws TRPCError `INTERNAL_SERVER_ERROR` when `result` cannot be iterated, or what the iterator throws
 */
export async function iterateResult(result: unknown, path: string, signal: AbortSignal, send: (result: SubscriptionResult) => void): Promise<void> {
  let iterable: AsyncIterable<unknown>;
  if (isObservable(result)) iterable = observableToAsyncIterable(result, signal);
  else if (isAsyncIterableValue(result)) iterable = result;
  else throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: `Subscription ${path} did not return an observable or an async iterable` });
  const iterator = iterable[Symbol.asyncIterator]();
  send({ type: 'started' });
  try {
    while (!signal.aborted) {
      const next = await nextOrAbort(iterator, signal);
      if (next === undefined || next.done) break;
      const value: unknown = next.value;
      if (isTrackedEnvelope(value)) send({ type: 'data', id: value[0], data: { id: value[0], data: value[1] } });
      else send({ type: 'data', data: value });
    }
  } finally {
    await iterator.return?.().catch(() => undefined);
  }
}

/** `iterator.next()`, or `undefined` as soon as `signal` aborts (listener removed either way). */
function nextOrAbort<T>(iterator: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T> | undefined> {
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    iterator.next().then(
      (result) => {
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
