import type { Express } from "express";
import { bearerMatches } from "../server/bearer.ts";
import type { Evidence } from "./evidence.ts";

export const EVIDENCE_PATH = "/api/v1/optimizer/evidence";

/**
 * GET /api/v1/optimizer/evidence: what the optimiser reads, read-only, behind the ingestion token when
 * one is set. The trace carries hashed keys, never text. No CORS headers: a web page of another site
 * cannot read it.
 */
export function mountEvidence(
  app: Express,
  options: { readonly token: string | undefined; readonly evidence: () => Evidence },
): void {
  app.get(EVIDENCE_PATH, (req, res) => {
    if (options.token !== undefined && !bearerMatches(req.get("authorization"), options.token)) {
      res
        .status(401)
        .set("WWW-Authenticate", 'Bearer realm="tts-monitor"')
        .json({ error: "missing or wrong bearer token" });
      return;
    }
    res.set("Cache-Control", "no-store").json(options.evidence());
  });
}
