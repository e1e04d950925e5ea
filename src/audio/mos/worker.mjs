// Worker process bootstrap (forked with no execArgv): registers the TypeScript loader, as analyzer-worker.mjs.
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
