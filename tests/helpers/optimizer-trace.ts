import { createHash } from "node:crypto";
import type { TraceEntry } from "../../src/gateway/contract.ts";
import { seededRandom as rng } from "../../src/util/random.ts";

export { rng };

export interface SyntheticTraceOptions {
  readonly requests: number;
  readonly keys: number;
  /** Mean milliseconds between arrivals. */
  readonly gapMs: number;
  /** Service time per engine (ms); the engine of a key is fixed. */
  readonly engines: Readonly<Record<string, number>>;
  readonly errorRate?: number;
  readonly seed?: number;
}

/**
 * A gateway trace with a known shape: skewed popularity (u³ over the keys), one voice per engine,
 * service times ±25 %, no cache in front (every request reaches its engine), the given error rate.
 */
export function syntheticTrace(o: SyntheticTraceOptions): TraceEntry[] {
  const rand = rng(o.seed ?? 1);
  const names = Object.keys(o.engines);
  const out: TraceEntry[] = [];
  let t = 1_800_000_000_000;
  for (let i = 0; i < o.requests; i++) {
    t += Math.round(rand() * 2 * o.gapMs);
    const k = Math.floor(o.keys * rand() ** 3);
    const engine = names[k % names.length] ?? "e";
    const ms = Math.round((o.engines[engine] ?? 100) * (0.75 + 0.5 * rand()));
    const failed = rand() < (o.errorRate ?? 0);
    out.push({
      v: 1,
      key: createHash("sha256").update(`${engine}/${k}`).digest("hex"),
      engine,
      voice: `${engine}-voice`,
      chars: 30 + (k % 70),
      bytes: failed ? 0 : 20_000 + (k % 50) * 1000,
      start_ms: t,
      ...(failed ? {} : { first_byte_ms: t + Math.round(ms / 3) }),
      end_ms: t + ms,
      cache_hit: false,
      coalesced: false,
      result: failed ? "timeout" : "success",
      status: failed ? 504 : 200,
      engine_ms: ms,
    });
  }
  return out;
}

export const toJsonl = (entries: readonly unknown[]): string =>
  entries.map((e) => JSON.stringify(e)).join("\n") + "\n";
