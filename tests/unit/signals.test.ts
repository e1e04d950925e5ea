// withTimeout: AbortSignal.any([signal, AbortSignal.timeout(ms)]) without Node 20's leak into the
// source signal (the soak found it: the monitor's lifetime signal kept a WeakRef per probe).
import { getEventListeners } from "node:events";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { timedOut, withTimeout } from "../../src/util/signals.ts";

const aborted = (s: AbortSignal) =>
  new Promise<void>((r) => s.addEventListener("abort", () => r(), { once: true }));

describe("withTimeout", () => {
  it("aborts at its deadline with a TimeoutError and leaves nothing on the source", async () => {
    const life = new AbortController();
    const s = withTimeout(life.signal, 20);
    expect(getEventListeners(life.signal, "abort")).toHaveLength(1);
    await aborted(s);
    expect(timedOut(s)).toBe(true);
    expect((s.reason as DOMException).name).toBe("TimeoutError");
    expect(life.signal.aborted).toBe(false);
    expect(getEventListeners(life.signal, "abort")).toHaveLength(0);
  });

  it("aborts with the source's reason when the source aborts first", () => {
    const life = new AbortController();
    const s = withTimeout(life.signal, 60_000);
    const reason = new Error("shutting down");
    life.abort(reason);
    expect(s.aborted).toBe(true);
    expect(s.reason).toBe(reason);
    expect(timedOut(s)).toBe(false);
  });

  it("an already aborted source gives an aborted signal; no source gives a plain deadline", async () => {
    const life = new AbortController();
    life.abort();
    expect(withTimeout(life.signal, 60_000).aborted).toBe(true);
    const alone = withTimeout(undefined, 1.5);
    await aborted(alone);
    expect(timedOut(alone)).toBe(true);
  });

  it("thousands of deadlines on one long-lived signal leave it with no listener once they fired", async () => {
    const life = new AbortController();
    const all = Array.from({ length: 5000 }, () => withTimeout(life.signal, 5));
    await Promise.all(all.map(aborted));
    expect(getEventListeners(life.signal, "abort")).toHaveLength(0);
  });

  it("deadlines in flight together leave no listener even when a garbage collection runs before they fire", async () => {
    // Node 20's addEventListener `signal` option keeps only the newest remover per source alive
    // across a collection; the soak's lifetime signal kept every older probe's listener.
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const life = new AbortController();
    const inFlight = Array.from({ length: 50 }, () => withTimeout(life.signal, 2000));
    // A WeakRef made in this job holds its target until the job ends: collect on a later turn.
    await new Promise((r) => setTimeout(r, 20));
    gc();
    expect(getEventListeners(life.signal, "abort")).toHaveLength(50);
    await Promise.all(inFlight.map(aborted));
    gc();
    expect(getEventListeners(life.signal, "abort")).toHaveLength(0);
  });
});
