/** The knee of the load curve, three ways (docs/stress.md gives the formulas and which one the verdict uses). */

export interface KneeStep {
  readonly offeredRps: number;
  readonly achievedRps: number;
  readonly p99Seconds: number | null;
  readonly meanInFlight: number;
  /** Closed model: the number of workers (the USL's N). */
  readonly concurrency?: number;
  readonly valid: boolean;
  readonly meetsSlo: boolean;
}

/**
 * (a) The SLO rule (k6's breakpoint logic): walking up the offered rates, the last valid step that
 * meets every threshold before the first valid step that does not. Invalid steps (the generator was
 * late) are skipped, neither passing nor failing. Returns the index of that step, or undefined.
 */
export function sloRuleStep(steps: readonly KneeStep[]): number | undefined {
  const order = steps
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => s.valid)
    .sort((a, b) => a.s.offeredRps - b.s.offeredRps);
  let best: number | undefined;
  for (const { s, i } of order) {
    if (!s.meetsSlo) break;
    best = i;
  }
  return best;
}

/**
 * (b) Kneedle (Satopää et al., 2011) on p99 latency against achieved throughput, for a convex,
 * increasing curve: both axes scaled to [0, 1] over the valid steps (in offered order), the knee is
 * the point furthest above the diagonal of the difference curve, d = x' − y'. Needs three points
 * and a positive maximum, else there is no knee to speak of (undefined).
 */
export function kneedle(steps: readonly KneeStep[]): number | undefined {
  const pts = steps
    .filter((s) => s.valid && s.p99Seconds !== null)
    .sort((a, b) => a.offeredRps - b.offeredRps)
    .map((s) => ({ x: s.achievedRps, y: s.p99Seconds as number }));
  if (pts.length < 3) return undefined;
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x1 <= x0 || y1 <= y0) return undefined;
  let best = -1;
  let bestD = 0;
  for (let i = 0; i < pts.length; i++) {
    const p = pts[i] as { x: number; y: number };
    const d = (p.x - x0) / (x1 - x0) - (p.y - y0) / (y1 - y0);
    if (d > bestD) {
      bestD = d;
      best = i;
    }
  }
  return best < 0 ? undefined : (pts[best] as { x: number }).x;
}

export interface UslFit {
  /** Contention (serial share), ≥ 0. */
  readonly sigma: number;
  /** Coherency (crosstalk), ≥ 0. */
  readonly kappa: number;
  /** Throughput of one unit of concurrency (requests/s). */
  readonly lambda: number;
  /** The fit's peak throughput: X(N*) with N* = √((1−σ)/κ), or λ/σ when κ = 0; null when unbounded. */
  readonly max_rps: number | null;
  /** Where it peaks (N*), null when κ = 0. */
  readonly peak_concurrency: number | null;
  /** Coefficient of determination of the fit on X. */
  readonly r2: number;
  /** "closed" (N = workers) or "in_flight" (N = mean requests in flight, Little's law). */
  readonly from: "closed" | "in_flight";
  readonly points: number;
}

/** X(N) = λN / (1 + σ(N−1) + κN(N−1)). */
export function uslThroughput(n: number, f: Pick<UslFit, "sigma" | "kappa" | "lambda">): number {
  return (f.lambda * n) / (1 + f.sigma * (n - 1) + f.kappa * n * (n - 1));
}

/** Least squares of y on the given columns (normal equations, tiny systems). */
function leastSquares(rows: readonly number[][], y: readonly number[]): number[] | undefined {
  const k = rows[0]?.length ?? 0;
  const a = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as number[];
    for (let i = 0; i < k; i++) {
      const ai = a[i] as number[];
      for (let j = 0; j < k; j++) ai[j] = (ai[j] as number) + (row[i] as number) * (row[j] as number);
      ai[k] = (ai[k] as number) + (row[i] as number) * (y[r] as number);
    }
  }
  // Gauss-Jordan with partial pivoting.
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++)
      if (Math.abs((a[r] as number[])[c] as number) > Math.abs((a[p] as number[])[c] as number)) p = r;
    [a[c], a[p]] = [a[p] as number[], a[c] as number[]];
    const pivot = (a[c] as number[])[c] as number;
    if (Math.abs(pivot) < 1e-12) return undefined;
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = ((a[r] as number[])[c] as number) / pivot;
      for (let j = c; j <= k; j++)
        (a[r] as number[])[j] = ((a[r] as number[])[j] as number) - f * ((a[c] as number[])[j] as number);
    }
  }
  return a.map((row, i) => (row[k] as number) / (row[i] as number));
}

/**
 * (c) Universal Scalability Law fit. N/X is a quadratic in N: N/X = a + bN + cN² with
 * λ = 1/(a+b+c), κ = cλ, σ = bλ + κ; fitted by linear least squares, with κ (then σ) pinned to 0
 * when the free fit makes it negative. Closed-model steps give N = workers; otherwise N is each
 * step's mean in-flight count. Needs three distinct N (two when κ is pinned).
 */
export function fitUsl(steps: readonly KneeStep[]): UslFit | undefined {
  const closed = steps.filter((s) => s.valid && s.concurrency !== undefined && s.achievedRps > 0);
  const from = closed.length >= 2 ? "closed" : "in_flight";
  const data = (
    from === "closed" ? closed : steps.filter((s) => s.valid && s.achievedRps > 0 && s.meanInFlight > 0)
  ).map((s) => ({ n: from === "closed" ? (s.concurrency as number) : s.meanInFlight, x: s.achievedRps }));
  if (new Set(data.map((d) => d.n.toFixed(6))).size < 2) return undefined;
  const y = data.map((d) => d.n / d.x);
  let fit: { sigma: number; kappa: number; lambda: number } | undefined;
  if (new Set(data.map((d) => d.n.toFixed(6))).size >= 3) {
    const free = leastSquares(
      data.map((d) => [1, d.n, d.n * d.n]),
      y,
    );
    if (free) {
      const [a, b, c] = free as [number, number, number];
      const lambda = 1 / (a + b + c);
      const kappa = c * lambda;
      const sigma = b * lambda + kappa;
      if (lambda > 0 && kappa >= 0 && sigma >= 0) fit = { sigma, kappa, lambda };
    }
  }
  if (!fit) {
    // κ = 0: N/X = (1−σ)/λ + (σ/λ)N.
    const lin = leastSquares(
      data.map((d) => [1, d.n]),
      y,
    );
    if (lin) {
      const [a, b] = lin as [number, number];
      const lambda = 1 / (a + b);
      const sigma = b * lambda;
      if (lambda > 0 && sigma >= 0) fit = { sigma, kappa: 0, lambda };
    }
  }
  if (!fit) {
    // σ = κ = 0: linear scaling, X = λN.
    const lambda = data.reduce((s, d) => s + d.x * d.n, 0) / data.reduce((s, d) => s + d.n * d.n, 0);
    if (!(lambda > 0)) return undefined;
    fit = { sigma: 0, kappa: 0, lambda };
  }
  const { sigma, kappa, lambda } = fit;
  let max: number | null = null;
  let peak: number | null = null;
  if (kappa > 0) {
    peak = Math.sqrt(Math.max(0, 1 - sigma) / kappa);
    max = uslThroughput(Math.max(1, peak), fit);
  } else if (sigma > 0) {
    max = lambda / sigma;
  }
  const mean = data.reduce((s, d) => s + d.x, 0) / data.length;
  const ssTot = data.reduce((s, d) => s + (d.x - mean) ** 2, 0);
  const ssRes = data.reduce((s, d) => s + (d.x - uslThroughput(d.n, fit)) ** 2, 0);
  return {
    sigma,
    kappa,
    lambda,
    max_rps: max,
    peak_concurrency: peak,
    r2: ssTot > 0 ? 1 - ssRes / ssTot : 1,
    from,
    points: data.length,
  };
}
