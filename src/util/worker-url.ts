/**
 * The entry file of a worker thread beside `from` (the caller's import.meta.url). Compiled (dist/):
 * the worker's own `.js`. From the TypeScript sources (vitest, tsx): its `.mjs` bootstrap, which
 * registers tsx in the worker first, since a worker does not inherit its parent's loader.
 */
export function workerUrl(name: string, from: string): URL {
  return new URL(`./${name}.${from.endsWith(".js") ? "js" : "mjs"}`, from);
}
