import cliProgress from "cli-progress";
import type { LiveFigures } from "./generator.ts";

export interface ProgressView {
  stepStart(index: number, count: number, label: string): void;
  live(figures: LiveFigures): void;
  stepEnd(index: number, line: string): void;
  stop(): void;
}

/** A live bar with the current step's figures on a terminal; one line per step otherwise (logs, CI). */
export function progressView(stream: NodeJS.WritableStream & { isTTY?: boolean }): ProgressView {
  if (!stream.isTTY) {
    return {
      stepStart: (i, n, label) => stream.write(`step ${i + 1}/${n}: ${label}\n`),
      live: () => {},
      stepEnd: (_i, line) => stream.write(`  ${line}\n`),
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format:
        "{step} {bar} {percentage}% | sent {sent} ok {ok} err {err} | in flight {inflight} | p99 {p99} | late {late}",
      hideCursor: true,
      clearOnComplete: true,
      fps: 4,
    },
    cliProgress.Presets.shades_classic,
  );
  let running = false;
  let step = "";
  return {
    stepStart(i, n, label) {
      step = `[${i + 1}/${n}] ${label}`;
      bar.start(100, 0, { step, sent: 0, ok: 0, err: 0, inflight: 0, p99: "—", late: 0 });
      running = true;
    },
    live(f) {
      if (!running) return;
      bar.update(Math.min(100, Math.round((f.elapsedMs / f.totalMs) * 100)), {
        step,
        sent: f.sent,
        ok: f.succeeded,
        err: f.failed,
        inflight: f.inFlight,
        p99: f.p99Seconds === null ? "—" : `${Math.round(f.p99Seconds * 1000)} ms`,
        late: f.lateSends,
      });
    },
    stepEnd(_i, line) {
      if (running) bar.stop();
      running = false;
      stream.write(`${step}: ${line}\n`);
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}
