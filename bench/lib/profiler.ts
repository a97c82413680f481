/**
 * V8 CPU profiling over the inspector, started and stopped by command so
 * that a profile covers exactly the measured window. It is the profiler
 * behind `node --cpu-prof` (same sampler, same `.cpuprofile` format).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { nowUs } from './clock.js';

/** IPC handlers `profileStart { intervalUs }` and `profileStop { file }`. */
export function profilerCommands() {
  let session: Session | undefined;
  return {
    async profileStart({ intervalUs }: { intervalUs: number }) {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
      await session.post('Profiler.start');
      return { startUs: nowUs() };
    },
    async profileStop({ file }: { file: string }) {
      if (session === undefined) throw new Error('profiler not started');
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      session = undefined;
      return { file, stopUs: nowUs() };
    },
  };
}
