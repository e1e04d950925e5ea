import { execFileSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { probeWavHeader } from "../../../src/engines/wav-header.ts";

/** Fails (never skips) when a program the test needs is missing, naming the Debian package. */
export function requireBinary(program: string, debianPackage: string): string {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const path = join(dir, program);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    `${program} is not installed: install the Debian package "${debianPackage}" (apt-get install ${debianPackage})`,
  );
}

const cache = new Map<string, Buffer>();

/** Real speech from Debian's flite (the test servers' engine), cached per text and voice. */
export function fliteWav(text: string, voice = "slt"): Buffer {
  const key = `${voice}\u0000${text}`;
  const hit = cache.get(key);
  if (hit) return hit;
  requireBinary("flite", "flite");
  const dir = mkdtempSync(join(tmpdir(), "tts-test-"));
  try {
    const out = join(dir, "out.wav");
    execFileSync("flite", ["-voice", voice, "-t", text, "-o", out]);
    const wav = readFileSync(out);
    cache.set(key, wav);
    return wav;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Pcm {
  readonly pcm: Buffer;
  readonly rate: number;
  readonly width: number;
  readonly channels: number;
  readonly headerBytes: number;
}

/** Splits a WAV into its header facts and raw samples. */
export function wavToPcm(wav: Buffer): Pcm {
  const probe = probeWavHeader(wav);
  if (probe.state !== "ok") throw new Error(`test audio is not a WAV: ${probe.state}`);
  const { layout } = probe;
  const end = layout.dataSize === undefined ? wav.length : layout.dataOffset + layout.dataSize;
  return {
    pcm: wav.subarray(layout.dataOffset, end),
    rate: layout.sampleRate,
    width: layout.bitsPerSample / 8,
    channels: layout.channels,
    headerBytes: layout.dataOffset,
  };
}

/**
 * The WAV that ffmpeg's muxer writes to a pipe or that PyAV leaves in Kokoro-FastAPI's stream:
 * RIFF and data sizes left at their 0xFFFFFFFF placeholders, a LIST/INFO/ISFT chunk before `data`.
 */
export function ffmpegStreamWav(wav: Buffer): Buffer {
  const { pcm, rate, width, channels } = wavToPcm(wav);
  const fmt = Buffer.alloc(24);
  fmt.write("fmt ", 0, "latin1");
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8);
  fmt.writeUInt16LE(channels, 10);
  fmt.writeUInt32LE(rate, 12);
  fmt.writeUInt32LE(rate * width * channels, 16);
  fmt.writeUInt16LE(width * channels, 20);
  fmt.writeUInt16LE(width * 8, 22);
  const software = Buffer.from("Lavf58.76.100\0", "latin1");
  const isft = Buffer.concat([Buffer.from("ISFT"), u32(software.length), software]);
  const list = Buffer.concat([Buffer.from("LIST"), u32(4 + isft.length), Buffer.from("INFO"), isft]);
  return Buffer.concat([
    Buffer.from("RIFF"),
    u32(0xffffffff),
    Buffer.from("WAVE"),
    fmt,
    list,
    Buffer.from("data"),
    u32(0xffffffff),
    pcm,
  ]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/** The same speech in a compressed format, converted by Debian's sox (what a server sends when it ignores the asked format). */
export function soxConvert(wav: Buffer, format: "ogg" | "flac"): Buffer {
  const key = `${format}\u0000${wav.length}\u0000${wav.subarray(44, 108).toString("hex")}`;
  const hit = cache.get(key);
  if (hit) return hit;
  requireBinary("sox", "sox");
  const dir = mkdtempSync(join(tmpdir(), "tts-test-"));
  try {
    const input = join(dir, "in.wav");
    const out = join(dir, `out.${format}`);
    writeFileSync(input, wav);
    execFileSync("sox", [input, out]);
    const bytes = readFileSync(out);
    cache.set(key, bytes);
    return bytes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Asserts-free check used by tests: a WAV with at least `minSeconds` of 16-bit samples that are not all silence. */
export function wavStats(wav: Uint8Array): { seconds: number; rate: number; peak: number } {
  const { pcm, rate, width, channels } = wavToPcm(Buffer.from(wav));
  let peak = 0;
  if (width === 2)
    for (let i = 0; i + 1 < pcm.length; i += 2) peak = Math.max(peak, Math.abs(pcm.readInt16LE(i)));
  return { seconds: pcm.length / (rate * width * channels), rate, peak };
}
