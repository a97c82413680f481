import type { PubSubEvent } from '../../client/protocol.js';
import type { Engine, EngineContext, EngineHealth } from './engine.js';

/**
 * The default engine: one process, no broker. `publish` delivers
 * synchronously to local subscribers, so a publish resolves after every
 * local subscriber has been handed the event.
 */
export class MemoryEngine implements Engine {
  readonly name = 'memory';
  #context: EngineContext | undefined;

  start(context: EngineContext): void {
    this.#context = context;
  }

  publish(event: PubSubEvent): Promise<void> {
    this.#context?.deliver(event);
    return Promise.resolve();
  }

  listen(): void {}

  unlisten(): void {}

  health(): EngineHealth {
    return { status: 'ok' };
  }

  close(): Promise<void> {
    this.#context = undefined;
    return Promise.resolve();
  }
}

/** Creates the in-memory engine (the default of `createPubSub`). */
export function memoryEngine(): Engine {
  return new MemoryEngine();
}
