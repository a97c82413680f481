/**
 * Graceful stop for the long-running commands (`serve`, `sub`): the first
 * SIGINT or SIGTERM asks them to finish; a second one exits at once with 1.
 * @module
 */
import { note } from './output.js';

/** Resolves with the first SIGINT or SIGTERM; a second one exits the process with code 1 without waiting. */
export function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const first = (signal: NodeJS.Signals) => {
      process.off('SIGINT', first);
      process.off('SIGTERM', first);
      const again = () => {
        note('second signal: exiting now');
        process.exit(1);
      };
      process.once('SIGINT', again);
      process.once('SIGTERM', again);
      resolve(signal);
    };
    process.on('SIGINT', first);
    process.on('SIGTERM', first);
  });
}
