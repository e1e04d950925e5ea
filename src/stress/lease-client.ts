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
 * The basic-auth password for a --monitor URL that names a user without one (`https://stress@host:9090`),
 * so the password stays out of the command line that `ps` shows.
 */
export const MONITOR_PASSWORD_ENV = "TTS_MONITOR_MONITOR_PASSWORD";

/** A --monitor URL fit for a message: user and password removed. */
export function displayMonitorUrl(monitorUrl: string): string {
  try {
    const u = new URL(monitorUrl);
    u.username = "";
    u.password = "";
    return u.href.replace(/\/$/, "");
  } catch {
    // Not a URL: show none of it past a "@", in case it holds a password.
    return monitorUrl.replace(/^([^/]*\/\/)?[^@/]*@/, "$1");
  }
}

/**
 * Takes the lease on `engine` from the monitor at `monitorUrl` (its exporter, e.g.
 * http://127.0.0.1:9090), renews it every TTL/3 until released. Throws LeaseError naming --monitor.
 *
 * Credentials: the ingestion `token` as a bearer (the route's own), and basic auth (the monitor's
 * web config) from the URL's user:password@, or its user@ with the password in MONITOR_PASSWORD_ENV.
 * A request carries one Authorization header, so the first the monitor accepts is kept for the lease.
 */
export async function acquireLease(
  monitorUrl: string,
  engine: string,
  token: string | undefined,
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<HeldLease> {
  const shown = displayMonitorUrl(monitorUrl);
  let base: URL;
  try {
    base = new URL("/api/v1/stress/leases", monitorUrl);
  } catch {
    throw new LeaseError(`--monitor ${JSON.stringify(shown)} is not a URL (e.g. http://127.0.0.1:9090)`);
  }
  // fetch refuses a URL with credentials; they go into the header instead.
  const user = decodeURIComponent(base.username);
  const password = base.username ? decodeURIComponent(base.password) || env[MONITOR_PASSWORD_ENV] || "" : "";
  base.username = "";
  base.password = "";
  const authorizations = [
    ...(token ? [`Bearer ${token}`] : []),
    ...(user ? [`Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`] : []),
  ];
  let headers: Record<string, string> = { "Content-Type": "application/json" };
  let res: Response | undefined;
  for (const authorization of authorizations.length > 0 ? authorizations : [undefined]) {
    headers = { "Content-Type": "application/json", ...(authorization && { Authorization: authorization }) };
    try {
      res = await fetch(base, {
        method: "POST",
        headers,
        body: JSON.stringify({ engine, ttl_seconds: TTL_SECONDS }),
        signal: AbortSignal.timeout(5000),
      });
    } catch (err) {
      throw new LeaseError(
        `--monitor ${shown}: cannot reach the monitor (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    if (res.status !== 401) break;
  }
  if (res === undefined) throw new LeaseError(`--monitor ${shown}: no answer from the monitor`);
  const body = (await res.json().catch(() => ({}))) as { id?: string; error?: string };
  if (res.status !== 201 || typeof body.id !== "string")
    throw new LeaseError(
      `--monitor ${shown}: the monitor refused the stress lease on ${engine}: HTTP ${res.status} ${body.error ?? ""}${
        res.status === 401
          ? ` (give the monitor's ingestion token, or its basic-auth user as --monitor https://USER:PASSWORD@host:port or https://USER@host:port with ${MONITOR_PASSWORD_ENV})`
          : ""
      }`.trim(),
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
