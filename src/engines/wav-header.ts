import { frameSyncContainer, magicContainer } from "../audio/container.ts";
import type { AudioFormat } from "../audio/format.ts";
import { excerpt } from "./errors.ts";
import { EngineError } from "./types.ts";

/** Where the samples of a WAV stream start, and what the header says about them. */
export interface WavLayout {
  readonly dataOffset: number;
  /** Bytes of samples the header declares; undefined when it is a streaming placeholder. */
  readonly dataSize: number | undefined;
  readonly formatTag: number;
  readonly channels: number;
  readonly sampleRate: number;
  readonly bitsPerSample: number;
}

export type WavProbe =
  | { readonly state: "need_more" }
  | { readonly state: "invalid"; readonly message: string }
  | { readonly state: "ok"; readonly layout: WavLayout };

// Streaming writers cannot know the size up front: espeak-ng --stdout writes 0x7ffff000, ffmpeg and
// many servers 0xffffffff, some 0. Such a size says nothing about truncation.
const PLACEHOLDER_MIN = 0x7fff0000;
// A header (fmt, LIST, fact... chunks) larger than this is not a header we want to wait for.
const MAX_HEADER_BYTES = 1 << 20;
const PCM = 1;
const IEEE_FLOAT = 3;
const EXTENSIBLE = 0xfffe;

const ascii = (b: Uint8Array, at: number) =>
  String.fromCharCode(b[at] ?? 0, b[at + 1] ?? 0, b[at + 2] ?? 0, b[at + 3] ?? 0);

/**
 * Walks the RIFF chunks of the bytes received so far. Works on a prefix: "need_more" until the
 * start of the `data` chunk's payload is known, which is the first audio byte of a streamed WAV.
 */
export function probeWavHeader(bytes: Uint8Array): WavProbe {
  if (bytes.length < 12) {
    const prefix = "RIFF".slice(0, bytes.length);
    return ascii(bytes, 0).startsWith(prefix) ? { state: "need_more" } : invalid(bytes);
  }
  if (ascii(bytes, 0) !== "RIFF" || ascii(bytes, 8) !== "WAVE") return invalid(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: Omit<WavLayout, "dataOffset" | "dataSize"> | undefined;
  let pos = 12;
  while (pos + 8 <= bytes.length) {
    const id = ascii(bytes, pos);
    const size = view.getUint32(pos + 4, true);
    if (id === "data") {
      if (!fmt) return { state: "invalid", message: "WAV data chunk before its fmt chunk" };
      const dataSize = size === 0 || size >= PLACEHOLDER_MIN ? undefined : size;
      return { state: "ok", layout: { ...fmt, dataOffset: pos + 8, dataSize } };
    }
    if (id === "fmt ") {
      if (pos + 8 + 16 > bytes.length) return { state: "need_more" };
      fmt = {
        formatTag: view.getUint16(pos + 8, true),
        channels: view.getUint16(pos + 10, true),
        sampleRate: view.getUint32(pos + 12, true),
        bitsPerSample: view.getUint16(pos + 22, true),
      };
      const problem = fmtProblem(fmt);
      if (problem) return { state: "invalid", message: problem };
    }
    pos += 8 + size + (size % 2);
    if (pos > MAX_HEADER_BYTES) return { state: "invalid", message: "no WAV data chunk in the first 1 MiB" };
  }
  return { state: "need_more" };
}

function fmtProblem(f: Omit<WavLayout, "dataOffset" | "dataSize">): string | undefined {
  if (f.formatTag !== PCM && f.formatTag !== IEEE_FLOAT && f.formatTag !== EXTENSIBLE) {
    return `unsupported WAV format tag ${f.formatTag}`;
  }
  if (f.channels < 1 || f.channels > 8) return `WAV with ${f.channels} channels`;
  if (f.sampleRate < 1000 || f.sampleRate > 384_000) return `WAV sample rate ${f.sampleRate}`;
  if (![8, 16, 24, 32, 64].includes(f.bitsPerSample)) return `WAV with ${f.bitsPerSample} bits per sample`;
  return undefined;
}

function invalid(bytes: Uint8Array): WavProbe {
  return { state: "invalid", message: `not a RIFF/WAVE body: ${excerpt(bytes, 60)}` };
}

/**
 * Checks a complete WAV body: an empty body or one without samples is `empty_audio`; anything
 * that is not RIFF/WAVE, or has fewer sample bytes than its header declares, is `bad_audio`.
 */
export function checkWav(bytes: Uint8Array, where: string): WavLayout {
  if (bytes.length === 0) throw new EngineError(`${where}: empty body`, "empty_audio");
  const probe = probeWavHeader(bytes);
  if (probe.state === "invalid") throw new EngineError(`${where}: ${probe.message}`, "bad_audio");
  if (probe.state === "need_more") {
    throw new EngineError(`${where}: WAV header cut short after ${bytes.length} bytes`, "bad_audio");
  }
  const { layout } = probe;
  const received = bytes.length - layout.dataOffset;
  if (received <= 0 && (layout.dataSize ?? 0) === 0) {
    throw new EngineError(`${where}: WAV without samples`, "empty_audio");
  }
  if (layout.dataSize !== undefined && received < layout.dataSize) {
    throw new EngineError(
      `${where}: truncated WAV: ${received} of ${layout.dataSize} declared sample bytes`,
      "bad_audio",
    );
  }
  const frame = (layout.bitsPerSample / 8) * layout.channels;
  if (received < frame) throw new EngineError(`${where}: WAV without samples`, "empty_audio");
  return layout;
}

const BYTES_PER_SAMPLE = { s16le: 2, s24le: 3, s32le: 4, f32le: 4, u8: 1 } as const;

/**
 * Raw PCM has no header to check, so look for what servers send instead of audio: an error page
 * or JSON, and a length that is not a whole number of frames (a cut-off stream).
 */
export function checkPcm(
  bytes: Uint8Array,
  format: Extract<AudioFormat, { kind: "pcm" }>,
  where: string,
): void {
  if (bytes.length === 0) throw new EngineError(`${where}: empty body`, "empty_audio");
  if (looksLikeText(bytes))
    throw new EngineError(`${where}: body is not PCM audio: ${excerpt(bytes)}`, "bad_audio");
  const frame = BYTES_PER_SAMPLE[format.encoding] * format.channels;
  if (bytes.length % frame !== 0) {
    throw new EngineError(
      `${where}: PCM stream of ${bytes.length} bytes is not whole ${frame}-byte frames`,
      "bad_audio",
    );
  }
}

/** JSON, HTML or XML error bodies: starts with `{`, `[` or `<` and is all printable text. */
export function looksLikeText(bytes: Uint8Array): boolean {
  const head = bytes.subarray(0, 256);
  let i = 0;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09))
    i++;
  const first = head[i];
  if (first !== 0x7b && first !== 0x5b && first !== 0x3c) return false;
  for (const b of head) if (b < 0x09 || (b > 0x0d && b < 0x20)) return false;
  return true;
}

const COMPRESSED_TYPES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^audio\/(x-)?(mpeg|mp3|mpeg3|mpg)$/, "MP3"],
  [/^audio\/(x-)?(aac|aacp|m4a|mp4)$/, "AAC"],
  [/^audio\/(ogg|opus|vorbis)$/, "Ogg"],
  [/^audio\/(x-)?flac$/, "FLAC"],
  [/^audio\/webm$/, "WebM"],
  [/^audio\/(x-)?aiff?$/, "AIFF"],
  [/^audio\/basic$/, "AU"],
  [/^audio\/amr(-wb)?$/, "AMR"],
];

/**
 * Names the compressed or foreign container a body holds, from its magic bytes or its
 * Content-Type: what a server sends when it ignores the asked format (MP3 is OpenAI's default).
 * MPEG and ADTS frame sync words are only trusted when a WAV was expected (`strict`): raw PCM can
 * start with any bytes.
 */
export function compressedAudio(bytes: Uint8Array, contentType: string, strict: boolean): string | undefined {
  const magic = magicContainer(bytes);
  if (magic) return magic;
  for (const [pattern, name] of COMPRESSED_TYPES) if (pattern.test(contentType)) return name;
  return strict ? frameSyncContainer(bytes) : undefined;
}
