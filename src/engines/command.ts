import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunError, runCommand } from "../util/exec.ts";
import { type EngineConfigOf, type EngineContext, engineTimeoutMs } from "./context.ts";
import { abortError, throwIfAborted, withDeadline } from "./errors.ts";
import {
  ChunkClock,
  type Engine,
  EngineError,
  type SynthesisRequest,
  type SynthesisResult,
} from "./types.ts";
import { checkWav, probeWavHeader } from "./wav-header.ts";

const MAX_AUDIO_BYTES = 256 * 1024 * 1024;

/** Replaces `{text}`, `{out}` and `{voice}` in one argv element or the stdin template. */
function fill(template: string, values: { text: string; out: string; voice: string }): string {
  return template.replace(/\{(text|out|voice)\}/g, (_, key: "text" | "out" | "voice") => values[key]);
}

/**
 * Any CLI that writes WAV to a file (`{out}`) or to stdout, with the text as an argument
 * (`{text}`) or on stdin (`stdin` template). No shell: each argv element is one argument, so text
 * with quotes or `;` cannot become a command.
 */
export function createCommandEngine(config: EngineConfigOf<"command">, context: EngineContext): Engine {
  const timeoutMs = engineTimeoutMs(config, context);
  const [file, ...argTemplates] = config.command;
  if (file === undefined) throw new Error(`engine "${config.name}": empty command`);
  const output = config.output ?? (config.command.some((a) => a.includes("{out}")) ? "file" : "stdout");
  const voice = config.voice ?? "default";
  const where = `engine ${config.name} (command ${file})`;

  return {
    name: config.name,
    type: "command",
    voice,
    async synthesize(request: SynthesisRequest): Promise<SynthesisResult> {
      const signal = withDeadline(request.signal, timeoutMs);
      throwIfAborted(signal, where);
      const used = request.voice ?? voice;
      const dir = await mkdtemp(join(tmpdir(), "tts-monitor-"));
      try {
        const values = { text: request.text, out: join(dir, "out.wav"), voice: used };
        const args = argTemplates.map((a) => fill(a, values));
        const input = config.stdin === undefined ? undefined : fill(config.stdin, values);
        let firstByte: number | undefined;
        let firstAudio: number | undefined;
        let received = Buffer.alloc(0);
        const clock = new ChunkClock();
        const onStdout = (chunk: Buffer) => {
          const now = performance.now();
          firstByte ??= now;
          if (output === "stdout" && chunk.length > 0) {
            clock.mark(now);
            request.onChunk?.({ bytes: chunk, at: now, format: { kind: "wav" } });
          }
          if (firstAudio !== undefined || output !== "stdout") return;
          // Until the WAV header is complete, keep what came so far to find where samples start.
          received = Buffer.concat([received, chunk]);
          const probe = probeWavHeader(received);
          if (probe.state === "ok" && received.length > probe.layout.dataOffset) firstAudio = now;
          else if (probe.state === "invalid") firstAudio = Number.NaN;
        };
        const start = performance.now();
        const run = runCommand(file, args, {
          // The signal carries the deadline; this is only a backstop should the signal be ignored.
          timeoutMs: timeoutMs + 1000,
          signal,
          maxBuffer: MAX_AUDIO_BYTES,
          onStdout,
          ...(input === undefined ? {} : { input }),
        });
        const requestSent = performance.now();
        const result = await run.catch((error: unknown) => {
          throw commandError(error, signal, where);
        });
        let audio: Uint8Array;
        if (output === "stdout") {
          audio = result.stdout;
        } else {
          audio = await readFile(values.out).catch(() => {
            throw new EngineError(`${where}: exited 0 but wrote no ${values.out}`, "empty_audio");
          });
        }
        const end = performance.now();
        checkWav(audio, where);
        if (output !== "stdout") request.onChunk?.({ bytes: audio, at: end, format: { kind: "wav" } });
        const timings =
          output === "stdout"
            ? {
                start,
                requestSent,
                firstByte: firstByte ?? end,
                firstAudio: firstAudio === undefined || Number.isNaN(firstAudio) ? end : firstAudio,
                end,
                chunks: clock.times,
              }
            : // A file is only complete when the program exits: that is the first audio we can use.
              { start, requestSent, firstByte: end, firstAudio: end, end, chunks: [end] };
        return { audio, format: { kind: "wav" }, voice: used, timings };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

function commandError(error: unknown, signal: AbortSignal, where: string): EngineError {
  if (signal.aborted) return abortError(signal, where);
  if (!(error instanceof RunError)) {
    return new EngineError(`${where}: ${String(error)}`, "other", { cause: error });
  }
  switch (error.kind) {
    case "timeout":
      return new EngineError(`${where}: timed out`, "timeout", { cause: error });
    case "aborted":
      return new EngineError(`${where}: aborted`, "other", { cause: error });
    case "too_large":
      return new EngineError(`${where}: more than ${MAX_AUDIO_BYTES} bytes of output`, "bad_audio", {
        cause: error,
      });
    case "not_found":
      return new EngineError(`${where}: program not found (is it installed and on PATH?)`, "other", {
        cause: error,
      });
    default:
      return new EngineError(error.message, "other", { cause: error });
  }
}
