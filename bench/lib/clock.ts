/**
 * A clock shared by every bench process: `process.hrtime()` reads
 * CLOCK_MONOTONIC, which is system-wide on Linux, so a timestamp taken in
 * the server process can be compared with one taken in the load generator.
 */
export function nowUs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e6 + ns / 1e3;
}

/** `process.cpuUsage()` as one number of microseconds (user + system). */
export function cpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
