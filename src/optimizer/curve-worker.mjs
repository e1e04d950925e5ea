// Worker bootstrap for the TypeScript sources only (vitest, tsx; dev): a Worker cannot load .ts by
// itself and does not inherit its parent's loader, so register tsx's ESM loader here first. The
// compiled package (dist/) starts dist/optimizer/curve-worker.js directly and never loads this file.
import { register } from "tsx/esm/api";

register();
await import("./curve-worker.ts");
