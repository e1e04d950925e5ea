// Live charts drawn with uPlot (installed from npm, served by the dashboard from node_modules).
// Each sample is one measurement (a probe, a collector run, an engine's statistics, an analysis)
// at the time it was measured; samples of different sources share the time axis, and a series has
// a point only where it was measured (the line spans the gaps). Each chart picks its series from the
// flat keys ("engine.kokoro.latency_p95_ms") and is rebuilt only when its set of series changes (an
// engine appears); otherwise it gets new data. Under each chart's latest values: how old they are.

/** @typedef {{ t: number, source: string, v: Record<string, number> }} Sample */

const PALETTE = ["#1f4e8c", "#b3261e", "#2e7d32", "#6a1b9a", "#8a5a00", "#00695c", "#ad1457", "#37474f"];
const WINDOW_SECONDS = 300; // time on screen
const MAX_POINTS = 5000; // times on the shared axis at most

/** "3 s", "4 min", "2 h" @param {number} seconds */
export function formatAge(seconds) {
  if (seconds < 120) return `${Math.floor(seconds)} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h`;
}

/** @param {string} suffix */
const engineKeys = (suffix) => (/** @type {string[]} */ keys) =>
  keys.filter((k) => k.startsWith("engine.") && k.endsWith(`.${suffix}`));

/** Short names of the per-engine measures; "" where the chart's title already says it. */
const MEASURE_LABEL = {
  latency_ms: "last",
  latency_p50_ms: "p50",
  latency_p95_ms: "p95",
  stall_ms: "last",
  stall_p95_ms: "p95",
};

/** @param {string} key */
function labelOf(key) {
  const parts = key.split(".");
  const metric = parts.pop() ?? "";
  const [scope, ...rest] = parts;
  const name = rest.join(".");
  if (scope === "host") return metric.replace(/_percent$/, "");
  if (scope === "gpu")
    return `GPU ${name} ${metric.replace(/_percent$|_celsius$/, "").replace("temperature", "°C")}`;
  const measure = /** @type {Record<string, string>} */ (MEASURE_LABEL)[metric];
  return measure ? `${name} ${measure}` : name;
}

/**
 * The charts: id, title, unit, how to pick series, and the threshold from the config (drawn dashed).
 * @type {Array<{ id: string, title: string, unit: string, pick: (keys: string[]) => string[], threshold?: (t: Record<string, number>) => number, empty: string, digits: number }>}
 */
export const CHARTS = [
  {
    id: "latency",
    title: "Latency (last, p50, p95)",
    unit: "ms",
    pick: (keys) =>
      keys.filter(
        (k) =>
          k.startsWith("engine.") &&
          (k.endsWith(".latency_ms") || k.endsWith(".latency_p50_ms") || k.endsWith(".latency_p95_ms")),
      ),
    threshold: (t) => t.latency_max_ms,
    empty: "No synthesis yet",
    digits: 0,
  },
  {
    id: "ttfa",
    title: "Time to first audio",
    unit: "ms",
    pick: engineKeys("ttfa_ms"),
    empty: "No probe with a first-audio time yet",
    digits: 0,
  },
  {
    id: "stall",
    title: "Longest stall between audio chunks (last answer, p95 over the alert window)",
    unit: "ms",
    pick: (keys) =>
      keys.filter((k) => k.startsWith("engine.") && (k.endsWith(".stall_ms") || k.endsWith(".stall_p95_ms"))),
    threshold: (t) => t.stall_max_ms,
    empty: "No streamed answer yet (streaming engines: probes and the gateway)",
    digits: 0,
  },
  {
    id: "rtf",
    title: "Real-time factor",
    unit: "",
    pick: engineKeys("rtf"),
    empty: "No audio duration yet",
    digits: 3,
  },
  {
    id: "throughput",
    title: "Throughput",
    unit: "chars/s",
    pick: engineKeys("throughput_chars_per_second"),
    empty: "No successful probe yet",
    digits: 0,
  },
  {
    id: "quality",
    title: "Quality score",
    unit: "",
    pick: engineKeys("quality_score"),
    threshold: (t) => t.quality_score_min,
    empty: "No analysed audio yet",
    digits: 3,
  },
  {
    id: "mos",
    title: "Predicted MOS (DNSMOS P.835 overall, 1–5)",
    unit: "",
    pick: engineKeys("predicted_mos"),
    empty: "No predicted MOS yet (monitoring.mos off, onnxruntime-node missing, or no audio of 1 s or more)",
    digits: 2,
  },
  {
    id: "cache",
    title: "Cache hit rate",
    unit: "",
    pick: engineKeys("cache_hit_rate"),
    threshold: (t) => t.cache_hit_rate_min,
    empty: "No cache lookups reported (ingestion events with cache_hit)",
    digits: 3,
  },
  {
    id: "host",
    title: "CPU and RAM",
    unit: "%",
    pick: (keys) => keys.filter((k) => k.startsWith("host.")),
    threshold: (t) => t.memory_usage_max,
    empty: "No host metrics (host collectors off?)",
    digits: 1,
  },
  {
    id: "gpu",
    title: "GPU (usage %, memory %, °C)",
    unit: "",
    pick: (keys) => keys.filter((k) => k.startsWith("gpu.")),
    threshold: (t) => t.gpu_temp_max,
    empty: "No GPU series: no GPU found by nvidia-smi",
    digits: 1,
  },
];

/**
 * Width of the y axis from its longest tick label (uPlot's default is a fixed 50 px, which cuts
 * "60,000" to "0,000"); as in uPlot's axis auto-size demo.
 * @param {any} u @param {string[] | null} values @param {number} axisIdx @param {number} cycle
 */
function yAxisSize(u, values, axisIdx, cycle) {
  const axis = u.axes[axisIdx];
  if (cycle > 1) return axis._size;
  let size = axis.ticks.size + axis.gap;
  const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), "");
  if (longest !== "") {
    u.ctx.font = axis.font[0];
    size += u.ctx.measureText(longest).width / devicePixelRatio;
  }
  // Never narrower than uPlot's default 50 px: the x axis' date line starts under it.
  return Math.max(50, Math.ceil(size));
}

export class ChartBoard {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
    /** @type {number[]} */
    this.xs = [];
    /** @type {Map<string, (number|null)[]>} */
    this.cols = new Map();
    /** The newest measurement of each series: its value and time (Unix ms). @type {Map<string, { v: number, t: number }>} */
    this.last = new Map();
    /** Server clock minus this browser's (ms), so that ages are right on a machine with another clock. */
    this.skewMs = 0;
    /** @type {Record<string, number>} */
    this.thresholds = {};
    /** @type {Map<string, { el: HTMLElement, latest: HTMLElement, age: HTMLElement, plotEl: HTMLElement, plot: any, keys: string, def: typeof CHARTS[number] }>} */
    this.cards = new Map();
    for (const def of CHARTS) this.#card(def);
    const ro = new ResizeObserver(() => this.#resize());
    ro.observe(root);
  }

  /** @param {typeof CHARTS[number]} def */
  #card(def) {
    const el = document.createElement("section");
    el.className = "card";
    el.id = `chart-${def.id}`;
    el.setAttribute("aria-labelledby", `chart-${def.id}-title`);
    const h = document.createElement("h3");
    h.id = `chart-${def.id}-title`;
    h.textContent = def.title + (def.unit ? ` (${def.unit})` : "");
    const latest = document.createElement("p");
    latest.className = "latest";
    latest.setAttribute("aria-live", "off");
    const age = document.createElement("p");
    age.className = "age";
    age.setAttribute("aria-live", "off");
    const plotEl = document.createElement("div");
    plotEl.className = "plot";
    plotEl.setAttribute("role", "img");
    plotEl.setAttribute("aria-label", `${def.title} over the last minutes`);
    el.append(h, latest, age, plotEl);
    this.root.append(el);
    this.cards.set(def.id, { el, latest, age, plotEl, plot: null, keys: "", def });
  }

  /** @param {Record<string, number>} thresholds */
  setThresholds(thresholds) {
    this.thresholds = thresholds;
    this.#render();
  }

  /** @param {Sample[]} samples */
  addSamples(samples) {
    for (const s of samples) {
      const i = this.#at(s.t / 1000);
      for (const [k, v] of Object.entries(s.v)) {
        let col = this.cols.get(k);
        if (!col) {
          col = new Array(this.xs.length).fill(null);
          this.cols.set(k, col);
        }
        col[i] = v;
        const prev = this.last.get(k);
        if (!prev || s.t >= prev.t) this.last.set(k, { v, t: s.t });
      }
    }
    this.#trim();
    this.#render();
  }

  /** The index of time `x` (s) on the shared axis, inserted in order (measurements may come a little out of order). @param {number} x */
  #at(x) {
    let i = this.xs.length;
    while (i > 0 && /** @type {number} */ (this.xs[i - 1]) > x) i--;
    if (i > 0 && this.xs[i - 1] === x) return i - 1;
    this.xs.splice(i, 0, x);
    for (const col of this.cols.values()) col.splice(i, 0, null);
    return i;
  }

  /** Keeps the window on screen; a series with no point left in it goes, with its latest value. */
  #trim() {
    const newest = this.xs[this.xs.length - 1] ?? 0;
    let drop = 0;
    while (
      drop < this.xs.length &&
      (this.xs.length - drop > MAX_POINTS || /** @type {number} */ (this.xs[drop]) < newest - WINDOW_SECONDS)
    )
      drop++;
    if (drop === 0) return;
    this.xs.splice(0, drop);
    for (const [k, col] of this.cols) {
      col.splice(0, drop);
      if (col.every((v) => v === null)) {
        this.cols.delete(k);
        this.last.delete(k);
      }
    }
  }

  /** Redraws the age of each chart's latest values (called every second: ages grow without new data). */
  refreshAges() {
    const now = Date.now() + this.skewMs;
    for (const card of this.cards.values()) {
      const times = card.def.pick([...this.cols.keys()]).flatMap((k) => {
        const l = this.last.get(k);
        return l ? [l.t] : [];
      });
      if (times.length === 0) {
        card.age.textContent = "";
        delete card.el.dataset.ageSeconds;
        continue;
      }
      const newest = Math.max(0, (now - Math.max(...times)) / 1000);
      const oldest = Math.max(0, (now - Math.min(...times)) / 1000);
      const a = formatAge(newest);
      const b = formatAge(oldest);
      card.age.textContent = a === b ? `measured ${a} ago` : `measured ${a} – ${b} ago`;
      card.el.dataset.ageSeconds = String(Math.floor(newest));
    }
  }

  #render() {
    this.refreshAges();
    const keys = [...this.cols.keys()].sort();
    for (const card of this.cards.values()) {
      const picked = card.def.pick(keys);
      const latestText = picked
        .map((k) => {
          const l = this.last.get(k);
          return l === undefined ? null : `${labelOf(k)} ${l.v.toFixed(card.def.digits)}`;
        })
        .filter(Boolean)
        .join(" · ");
      card.latest.textContent = latestText;
      card.el.dataset.latest = latestText;
      // Points: the times at which one of this chart's series was measured.
      const cols = picked.map((k) => this.cols.get(k) ?? []);
      let points = 0;
      let lastT;
      for (let i = 0; i < this.xs.length; i++)
        if (cols.some((c) => c[i] !== null && c[i] !== undefined)) {
          points++;
          lastT = this.xs[i];
        }
      card.el.dataset.points = String(points);
      card.el.dataset.lastT = String(lastT ?? "");
      if (picked.length === 0) {
        if (card.plot) {
          card.plot.destroy();
          card.plot = null;
          card.keys = "";
        }
        card.plotEl.innerHTML = "";
        const p = document.createElement("p");
        p.className = "empty";
        p.textContent = card.def.empty;
        card.plotEl.append(p);
        continue;
      }
      const th = card.def.threshold?.(this.thresholds);
      const data = [this.xs, ...picked.map((k) => this.cols.get(k) ?? [])];
      if (th !== undefined) data.push(this.xs.map(() => th));
      const sig = picked.join("|") + (th !== undefined ? "|th" : "");
      if (card.plot && card.keys === sig) {
        card.plot.setData(data);
        continue;
      }
      card.plot?.destroy();
      card.plotEl.innerHTML = "";
      card.keys = sig;
      const series = [
        {},
        ...picked.map((k, i) => ({
          label: labelOf(k),
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          spanGaps: true,
          value: (/** @type {any} */ _u, /** @type {number|null} */ v) =>
            v === null || v === undefined ? "—" : v.toFixed(card.def.digits),
        })),
      ];
      if (th !== undefined) series.push({ label: "threshold", stroke: "#a4161a", width: 1, dash: [6, 4] });
      const width = Math.max(200, card.plotEl.clientWidth || card.el.clientWidth - 20);
      // @ts-ignore uPlot is the global of the IIFE build served at /vendor/uPlot.iife.min.js
      card.plot = new uPlot(
        {
          width,
          height: 170,
          series,
          scales: { x: { time: true } },
          axes: [{}, { size: yAxisSize }],
          legend: { live: false },
          cursor: { drag: { x: false } },
        },
        data,
        card.plotEl,
      );
    }
  }

  #resize() {
    for (const card of this.cards.values()) {
      if (!card.plot) continue;
      const width = Math.max(200, card.plotEl.clientWidth);
      if (Math.abs(width - card.plot.width) > 4) card.plot.setSize({ width, height: 170 });
    }
  }
}
