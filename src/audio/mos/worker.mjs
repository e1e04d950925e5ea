// Worker bootstrap, as analyzer-worker.mjs: a Worker does not inherit the parent's TypeScript loader.
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
