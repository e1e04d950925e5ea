#!/usr/bin/env node
// The command: the compiled CLI in dist/ (built by `npm run build`, run by `prepare` on `npm ci`).
await import("../dist/main.js");
