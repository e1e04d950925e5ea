/** The stress side of a lease on a running monitor (src/server/stress-leases.ts has the monitor's side). */

export class LeaseError extends Error {
  override readonly name = "LeaseError";
}

export interface HeldLease {
  readonly id: string;
  /** Hands the finished report to the monitor (for the optimiser); false when it did not take it. */
  report(report: object): Promise<boolean>;
  release(): Promise<void>;
}

const TTL_SECONDS = 30;

/**
 * Takes the lease on `engine` from the monitor at `monitorUrl` (its exporter, e.g.
 * http://127.0.0.1:9090), renews it every TTL/3 until released. Throws LeaseError naming --monitor.
 */
export async function acquireLease(
  monitorUrl: string,
  engine: string,
  token: string | undefined,
): Promise<HeldLease> {
  let base: URL;
  try {
    base = new URL("/api/v1/stress/leases", monitorUrl);
  } catch {
    throw new LeaseError(`--monitor ${JSON.stringify(monitorUrl)} is not a URL (e.g. http://127.0.0.1:9090)`);
  }
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    ...(token && { Authorization: `Bearer ${token}` }),
  };
  let res: Response;
  try {
    res = await fetch(base, {
      method: "POST",
      headers,
      body: JSON.stringify({ engine, ttl_seconds: TTL_SECONDS }),
      signal: AbortSignal.timeout(5000),
    });
  } catch (err) {
    throw new LeaseError(
      `--monitor ${monitorUrl}: cannot reach the monitor (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  const body = (await res.json().catch(() => ({}))) as { id?: string; error?: string };
  if (res.status !== 201 || typeof body.id !== "string")
    throw new LeaseError(
      `--monitor ${monitorUrl}: the monitor refused the stress lease on ${engine}: HTTP ${res.status} ${body.error ?? ""}`.trim(),
    );
  const id = body.id;
  const url = new URL(`${base.pathname}/${encodeURIComponent(id)}`, base);
  const renew = setInterval(
    () => {
      void fetch(url, {
        method: "PUT",
        headers,
        body: JSON.stringify({ ttl_seconds: TTL_SECONDS }),
        signal: AbortSignal.timeout(5000),
      }).catch(() => {});
    },
    (TTL_SECONDS * 1000) / 3,
  );
  renew.unref();
  return {
    id,
    report: async (report) => {
      const res = await fetch(new URL(`${url.pathname}/report`, url), {
        method: "POST",
        headers,
        body: JSON.stringify(report),
        signal: AbortSignal.timeout(5000),
      }).catch(() => undefined);
      return res?.status === 204;
    },
    release: async () => {
      clearInterval(renew);
      await fetch(url, { method: "DELETE", headers, signal: AbortSignal.timeout(5000) }).catch(() => {});
    },
  };
}
