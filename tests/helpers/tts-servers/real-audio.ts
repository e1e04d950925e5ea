import { execFileSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from "node:fs";
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

/** Asserts-free check used by tests: a WAV with at least `minSeconds` of 16-bit samples that are not all silence. */
export function wavStats(wav: Uint8Array): { seconds: number; rate: number; peak: number } {
  const { pcm, rate, width, channels } = wavToPcm(Buffer.from(wav));
  let peak = 0;
  if (width === 2)
    for (let i = 0; i + 1 < pcm.length; i += 2) peak = Math.max(peak, Math.abs(pcm.readInt16LE(i)));
  return { seconds: pcm.length / (rate * width * channels), rate, peak };
}
