// Worker bootstrap: a Worker cannot load .ts by itself. Under tsx (npm start) or vitest the parent
// has a TypeScript loader but workers do not inherit it, so register tsx's ESM loader here first.
import { register } from "tsx/esm/api";

register();
await import("./recogniser-input-worker.ts");
