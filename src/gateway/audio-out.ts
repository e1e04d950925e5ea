import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { AudioFormat } from "../audio/format.ts";
import { probeWavHeader } from "../engines/wav-header.ts";

// What the gateway sends is what the client asked for. Engines here produce WAV or raw PCM: "wav"
// and "pcm" pass through (a WAV header stripped, or one written in front of raw PCM); mp3, opus,
// aac and flac, and any speed other than 1, go through ffmpeg (when on PATH), streaming.

export const RESPONSE_FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"] as const;
export type ResponseFormat = (typeof RESPONSE_FORMATS)[number];

export const CONTENT_TYPES: Readonly<Record<ResponseFormat, string>> = {
  mp3: "audio/mpeg",
  opus: "audio/ogg",
  aac: "audio/aac",
  flac: "audio/flac",
  wav: "audio/wav",
  pcm: "audio/pcm",
};

const FFMPEG_OUTPUT: Readonly<Record<ResponseFormat, readonly string[]>> = {
  mp3: ["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
  opus: ["-c:a", "libopus", "-b:a", "48k", "-f", "ogg"],
  aac: ["-c:a", "aac", "-b:a", "128k", "-f", "adts"],
  flac: ["-c:a", "flac", "-f", "flac"],
  wav: ["-c:a", "pcm_s16le", "-f", "wav"],
  pcm: ["-c:a", "pcm_s16le", "-f", "s16le"],
};

/** The ffmpeg on PATH, or undefined (then only wav and pcm at speed 1 are served). */
export function findFfmpeg(path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    const file = join(dir, "ffmpeg");
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** True when the answer needs ffmpeg: a compressed format, or a speed other than 1. */
export function needsEncoder(format: ResponseFormat, speed: number): boolean {
  return speed !== 1 || (format !== "wav" && format !== "pcm");
}

/** Turns an engine's chunks into the client's format; `out` gets each piece as it is ready. */
export interface AudioConverter {
  write(bytes: Uint8Array, format: AudioFormat): void;
  /** The engine's audio is complete: resolves when the last converted byte went to `out`. */
  end(): Promise<void>;
  /** The synthesis failed or was cancelled: stop, send nothing more. */
  destroy(): void;
}

export function createConverter(
  format: ResponseFormat,
  speed: number,
  ffmpeg: string | undefined,
  out: (bytes: Uint8Array) => void,
): AudioConverter {
  if (needsEncoder(format, speed)) {
    if (ffmpeg === undefined) throw new Error("ffmpeg is not on PATH");
    return new FfmpegConverter(ffmpeg, format, speed, out);
  }
  return format === "wav" ? new WavOut(out) : new PcmOut(out);
}

/**
 * WAV to the client: a WAV engine's bytes as they are, once their header proved to be WAV (garbage
 * then fails before any byte went out); raw PCM gets a streaming header first.
 */
class WavOut implements AudioConverter {
  #head: Uint8Array | undefined = new Uint8Array(0);
  #failed: string | undefined;
  constructor(private readonly out: (bytes: Uint8Array) => void) {}
  write(bytes: Uint8Array, format: AudioFormat): void {
    if (this.#failed !== undefined) return;
    if (this.#head === undefined) {
      this.out(bytes);
      return;
    }
    if (format.kind === "pcm") {
      this.#head = undefined;
      this.out(streamingWavHeader(format));
      this.out(bytes);
      return;
    }
    const head = concat(this.#head, bytes);
    const probe = probeWavHeader(head);
    if (probe.state === "need_more") {
      this.#head = head;
      return;
    }
    this.#head = undefined;
    if (probe.state === "invalid") this.#failed = probe.message;
    else this.out(head);
  }
  end(): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(new Error(this.#failed));
    if (this.#head !== undefined && this.#head.length > 0)
      return Promise.reject(new Error("WAV header cut short"));
    return Promise.resolve();
  }
  destroy(): void {}
}

/** Raw PCM to the client: a WAV engine's header is held back and dropped; raw PCM passes through. */
class PcmOut implements AudioConverter {
  #head: Uint8Array | undefined = new Uint8Array(0);
  #failed: string | undefined;
  constructor(private readonly out: (bytes: Uint8Array) => void) {}
  write(bytes: Uint8Array, format: AudioFormat): void {
    if (this.#failed !== undefined) return;
    if (format.kind === "pcm" || this.#head === undefined) {
      this.#head = undefined;
      this.out(bytes);
      return;
    }
    const head = concat(this.#head, bytes);
    const probe = probeWavHeader(head);
    if (probe.state === "need_more") {
      this.#head = head;
      return;
    }
    this.#head = undefined;
    if (probe.state === "invalid") {
      this.#failed = probe.message;
      return;
    }
    const rest = head.subarray(probe.layout.dataOffset);
    if (rest.length > 0) this.out(rest);
  }
  end(): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(new Error(this.#failed));
    if (this.#head !== undefined && this.#head.length > 0)
      return Promise.reject(new Error("WAV header cut short"));
    return Promise.resolve();
  }
  destroy(): void {}
}

/** Any other format (or speed): the engine's audio piped through ffmpeg, its stdout streamed on. */
class FfmpegConverter implements AudioConverter {
  #child: ChildProcess | undefined;
  #ffmpeg: string;
  #done: Promise<void> | undefined;
  #stderr = "";
  #destroyed = false;
  constructor(
    ffmpeg: string,
    private readonly format: ResponseFormat,
    private readonly speed: number,
    private readonly out: (bytes: Uint8Array) => void,
  ) {
    this.#ffmpeg = ffmpeg;
  }

  #start(input: AudioFormat): ChildProcess {
    const inputArgs =
      input.kind === "wav"
        ? ["-f", "wav"]
        : ["-f", input.encoding, "-ar", String(input.sampleRate), "-ac", String(input.channels)];
    const child = spawn(
      this.#ffmpeg,
      [
        "-hide_banner",
        "-loglevel",
        "error",
        ...inputArgs,
        "-i",
        "pipe:0",
        ...(this.speed !== 1 ? ["-filter:a", atempo(this.speed)] : []),
        ...FFMPEG_OUTPUT[this.format],
        "-flush_packets",
        "1",
        "pipe:1",
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    child.stdout?.on("data", (b: Buffer) => {
      if (!this.#destroyed) this.out(b);
    });
    child.stderr?.on("data", (b: Buffer) => {
      if (this.#stderr.length < 2000) this.#stderr += b.toString("utf8");
    });
    // A closed stdin (ffmpeg exited early) shows as EPIPE here and as its exit status below.
    child.stdin?.on("error", () => {});
    this.#done = new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => {
        if (code === 0) resolve();
        else
          reject(
            new Error(
              `ffmpeg ${signal ? `killed by ${signal}` : `exited with ${code}`}: ${this.#stderr.trim().slice(0, 300)}`,
            ),
          );
      });
    });
    // Rejections are read in end(); a destroyed converter's are of no interest.
    this.#done.catch(() => {});
    return child;
  }

  write(bytes: Uint8Array, format: AudioFormat): void {
    if (this.#destroyed) return;
    this.#child ??= this.#start(format);
    this.#child.stdin?.write(bytes);
  }

  end(): Promise<void> {
    if (!this.#child || !this.#done) return Promise.reject(new Error("no audio to encode"));
    this.#child.stdin?.end();
    return this.#done;
  }

  destroy(): void {
    this.#destroyed = true;
    this.#child?.kill("SIGKILL");
  }
}

/** ffmpeg's atempo takes 0.5-100 per stage: 0.25 is two stages of 0.5. */
function atempo(speed: number): string {
  const stages: string[] = [];
  let left = speed;
  while (left < 0.5) {
    stages.push("atempo=0.5");
    left /= 0.5;
  }
  stages.push(`atempo=${left}`);
  return stages.join(",");
}

const BYTES = { s16le: 2, s24le: 3, s32le: 4, f32le: 4, u8: 1 } as const;

/** A WAV header for raw PCM of unknown length (sizes 0xFFFFFFFF, as ffmpeg writes when streaming). */
export function streamingWavHeader(format: Extract<AudioFormat, { kind: "pcm" }>): Uint8Array {
  const header = Buffer.alloc(44);
  const bytes = BYTES[format.encoding];
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(0xffffffff, 4);
  header.write("WAVE", 8, "ascii");
  header.write("fmt ", 12, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(format.encoding === "f32le" ? 3 : 1, 20);
  header.writeUInt16LE(format.channels, 22);
  header.writeUInt32LE(format.sampleRate, 24);
  header.writeUInt32LE(format.sampleRate * format.channels * bytes, 28);
  header.writeUInt16LE(format.channels * bytes, 32);
  header.writeUInt16LE(bytes * 8, 34);
  header.write("data", 36, "ascii");
  header.writeUInt32LE(0xffffffff, 40);
  return header;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const c = new Uint8Array(a.length + b.length);
  c.set(a, 0);
  c.set(b, a.length);
  return c;
}
