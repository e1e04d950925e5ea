// Audio decoding: WAV (PCM 1-32-bit, IEEE float 32/64, G.711 A-law/µ-law, WAVE_FORMAT_EXTENSIBLE,
// RF64/BW64) and raw PCM, down-mixed to mono Float32Array (nominally [-1, 1]). Bytes come from
// engines and from the ingestion API, so every length and offset is checked: bad input throws
// AudioDecodeError with a reason a person can act on, never anything else.

import { type Container, frameSyncContainer, magicContainer } from "./container.ts";
import type { AudioFormat, DecodedAudio } from "./format.ts";

export class AudioDecodeError extends Error {
  override readonly name = "AudioDecodeError";
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`cannot decode audio: ${reason}`, options);
    this.reason = reason;
  }
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
const MAX_CHANNELS = 16;
const MIN_RATE = 1000;
const MAX_RATE = 768_000;
/**
 * Decoded samples are clamped to ±this. Float files may hold anything (a writer that forgot to
 * scale gives ±32768, a broken one 1e300): the level measures still see the overload, but every
 * sum of squares downstream stays finite, and Float32Array never turns a value into Infinity.
 */
export const MAX_SAMPLE_MAGNITUDE = 1e6;

/** A sample made safe for the measures: NaN and ±Infinity become 0, magnitudes capped at MAX_SAMPLE_MAGNITUDE. */
export function finiteSample(v: number): number {
  return Number.isFinite(v) ? Math.max(-MAX_SAMPLE_MAGNITUDE, Math.min(MAX_SAMPLE_MAGNITUDE, v)) : 0;
}

type SampleEncoding = "u8" | "s16le" | "s24le" | "s32le" | "f32le" | "f64le" | "alaw" | "mulaw";

const BYTES: Record<SampleEncoding, number> = {
  u8: 1,
  s16le: 2,
  s24le: 3,
  s32le: 4,
  f32le: 4,
  f64le: 8,
  alaw: 1,
  mulaw: 1,
};

/** Compressed WAV format tags seen in the wild, for an error that says what the file is. */
const COMPRESSED_TAGS: Record<number, string> = {
  0x0002: "Microsoft ADPCM",
  0x0011: "IMA ADPCM",
  0x0031: "GSM 6.10",
  0x0040: "G.721 ADPCM",
  0x0050: "MPEG audio",
  0x0055: "MP3",
  0x0064: "G.726 ADPCM",
  0x0092: "Dolby AC-3",
  0x00ff: "AAC",
  0x1610: "AAC (ADTS)",
  0x2000: "Dolby AC-3",
  0x674f: "Ogg Vorbis",
  0x6750: "Ogg Vorbis",
  0x6751: "Ogg Vorbis",
  0x704f: "Opus",
  0xf1ac: "FLAC",
};

export function decodeAudio(bytes: Uint8Array, format: AudioFormat = { kind: "wav" }): DecodedAudio {
  if (!(bytes instanceof Uint8Array)) throw new AudioDecodeError("input is not a byte array");
  if (bytes.length === 0) throw new AudioDecodeError("empty input");
  if (format.kind === "pcm") {
    checkRate(format.sampleRate);
    checkChannels(format.channels);
    if (!Object.hasOwn(BYTES, format.encoding))
      throw new AudioDecodeError(`unsupported PCM encoding ${String(format.encoding)}`);
    return toMono(bytes, 0, bytes.length, format.encoding, format.channels, format.sampleRate);
  }
  return decodeWav(bytes);
}

function checkRate(rate: number): void {
  if (!Number.isInteger(rate) || rate < MIN_RATE || rate > MAX_RATE) {
    throw new AudioDecodeError(`unsupported sample rate ${rate} (expected ${MIN_RATE}-${MAX_RATE} Hz)`);
  }
}

function checkChannels(channels: number): void {
  if (!Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS) {
    throw new AudioDecodeError(`unsupported channel count ${channels}`);
  }
}

function ascii(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at] ?? 0, bytes[at + 1] ?? 0, bytes[at + 2] ?? 0, bytes[at + 3] ?? 0);
}

/** A chunk id: four printable ASCII characters. */
function plausibleId(bytes: Uint8Array, at: number): boolean {
  if (at + 4 > bytes.length) return false;
  for (let i = 0; i < 4; i++) {
    const c = bytes[at + i] ?? 0;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** How a reason names each container that is not WAV. */
const CONTAINER_NAMES: Record<Container, string> = {
  MP3: "MP3",
  AAC: "AAC (ADTS)",
  Ogg: "Ogg (Vorbis/Opus)",
  FLAC: "FLAC",
  AIFF: "AIFF",
  AU: "Sun/NeXT AU",
  CAF: "Core Audio (CAF)",
  WebM: "WebM/Matroska",
  MP4: "MP4/M4A",
  AMR: "AMR",
};

/** What a non-RIFF input most likely is, so the bad_audio reason says it. */
function sniff(bytes: Uint8Array): string {
  if (ascii(bytes, 0) === "RIFX") return "big-endian RIFX WAV is not supported";
  const container = frameSyncContainer(bytes) ?? magicContainer(bytes);
  if (container) return `${CONTAINER_NAMES[container]} data, not a RIFF/WAV file`;
  // JSON, HTML, XML or a plain error message in place of audio: an HTTP error body, typically.
  let printable = 0;
  const n = Math.min(bytes.length, 64);
  for (let i = 0; i < n; i++) {
    const c = bytes[i] ?? 0;
    if ((c >= 0x20 && c < 0x7f) || c === 0x09 || c === 0x0a || c === 0x0d) printable++;
  }
  if (n >= 4 && printable === n) return "text (JSON, HTML or an error message), not a RIFF/WAV file";
  return "not a RIFF/WAV file";
}

interface Fmt {
  encoding: SampleEncoding;
  channels: number;
  rate: number;
  blockAlign: number;
}

function decodeWav(bytes: Uint8Array): DecodedAudio {
  if (bytes.length < 12) {
    const head = ascii(bytes, 0);
    throw new AudioDecodeError(
      head === "RIFF" || head === "RF64" ? "too short for a WAV header" : sniff(bytes),
    );
  }
  const riff = ascii(bytes, 0);
  // RF64 and BW64 (EBU Tech 3306): RIFF with 64-bit sizes in a ds64 chunk.
  const rf64 = riff === "RF64" || riff === "BW64";
  if (riff !== "RIFF" && !rf64) throw new AudioDecodeError(sniff(bytes));
  const form = ascii(bytes, 8);
  if (form !== "WAVE") {
    throw new AudioDecodeError(
      `RIFF file is not WAVE (form type ${JSON.stringify(form.replace(/[^\x20-\x7e]/g, "?"))})`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  let fmt: Fmt | undefined;
  let ds64DataSize: number | undefined;
  let dataAt: { body: number; end: number } | undefined;
  const dataEnd = (body: number, size: number): number => {
    // RF64: the real size is in ds64. Streaming writers (espeak-ng --stdout, pipes) leave
    // placeholder sizes (0, 0xFFFFFFFF, or a large guess): read the bytes present.
    if (rf64 && size === 0xffffffff && ds64DataSize !== undefined && ds64DataSize > 0) {
      return Math.min(bytes.length, body + ds64DataSize);
    }
    return size === 0 || size === 0xffffffff ? bytes.length : Math.min(bytes.length, body + size);
  };
  let pos = 12;
  // Each iteration advances by at least 8 bytes, so the walk always ends.
  while (pos + 8 <= bytes.length) {
    const id = ascii(bytes, pos);
    const size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === "fmt ") {
      if (size < 16) throw new AudioDecodeError(`fmt chunk too short (${size} bytes)`);
      if (body + 16 > bytes.length) throw new AudioDecodeError("file ends inside the fmt chunk");
      fmt = parseFmt(view, body, Math.min(size, bytes.length - body));
      if (dataAt)
        return toMono(bytes, dataAt.body, dataAt.end, fmt.encoding, fmt.channels, fmt.rate, fmt.blockAlign);
    } else if (id === "ds64" && rf64 && body + 16 <= bytes.length) {
      const lo = view.getUint32(body + 8, true);
      const hi = view.getUint32(body + 12, true);
      ds64DataSize = hi * 2 ** 32 + lo;
    } else if (id === "data") {
      const end = dataEnd(body, size);
      if (fmt) return toMono(bytes, body, end, fmt.encoding, fmt.channels, fmt.rate, fmt.blockAlign);
      // data before fmt (rare, but legal RIFF): remember it and look for fmt after it.
      dataAt = { body, end };
      if (end >= bytes.length) break;
    }
    let next = body + size + (size & 1);
    // Some writers omit the pad byte after an odd-sized chunk: if the padded position holds no
    // chunk id and the unpadded one does, follow the writer.
    if (size & 1 && !plausibleId(bytes, next) && plausibleId(bytes, next - 1)) next -= 1;
    pos = next;
  }
  if (!fmt) throw new AudioDecodeError(dataAt ? "data chunk but no fmt chunk" : "no fmt chunk");
  throw new AudioDecodeError("no data chunk");
}

function parseFmt(view: DataView, at: number, size: number): Fmt {
  let tag = view.getUint16(at, true);
  const channels = view.getUint16(at + 2, true);
  const rate = view.getUint32(at + 4, true);
  const blockAlign = view.getUint16(at + 12, true);
  const bits = view.getUint16(at + 14, true);
  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    if (size < 40 || at + 40 > view.byteLength)
      throw new AudioDecodeError("WAVE_FORMAT_EXTENSIBLE fmt too short");
    // The sub-format GUID starts with the classic format tag ({tag-0000-0010-8000-00aa00389b71};
    // Ambisonic B-format GUIDs too, and their samples are PCM/float alike).
    tag = view.getUint16(at + 24, true);
  }
  checkChannels(channels);
  checkRate(rate);
  let encoding: SampleEncoding;
  if (tag === WAVE_FORMAT_PCM) {
    if (bits < 1 || bits > 32) throw new AudioDecodeError(`unsupported PCM bit depth ${bits}`);
    // Samples sit left-justified in whole-byte containers (12-bit in 2 bytes, 20-bit in 3); a
    // 24-bit sample may also sit in 4 bytes, which blockAlign tells.
    let width = Math.ceil(bits / 8);
    if (width === 3 && blockAlign === 4 * channels) width = 4;
    encoding = (["u8", "s16le", "s24le", "s32le"] as const)[width - 1] ?? "s16le";
  } else if (tag === WAVE_FORMAT_IEEE_FLOAT) {
    if (bits !== 32 && bits !== 64) throw new AudioDecodeError(`unsupported float bit depth ${bits}`);
    encoding = bits === 32 ? "f32le" : "f64le";
  } else if (tag === WAVE_FORMAT_ALAW || tag === WAVE_FORMAT_MULAW) {
    if (bits !== 8) throw new AudioDecodeError(`unsupported G.711 bit depth ${bits} (expected 8)`);
    encoding = tag === WAVE_FORMAT_ALAW ? "alaw" : "mulaw";
  } else {
    const name = COMPRESSED_TAGS[tag];
    throw new AudioDecodeError(
      `unsupported WAV format tag 0x${tag.toString(16)}${name ? ` (${name}: compressed audio, send PCM or float WAV)` : ""}`,
    );
  }
  const minAlign = BYTES[encoding] * channels;
  // Some writers put 0 or nonsense in blockAlign; trust it only when it is at least one frame.
  return { encoding, channels, rate, blockAlign: blockAlign >= minAlign ? blockAlign : minAlign };
}

function toMono(
  bytes: Uint8Array,
  start: number,
  end: number,
  encoding: SampleEncoding,
  channels: number,
  sampleRate: number,
  blockAlign = BYTES[encoding] * channels,
): DecodedAudio {
  const width = BYTES[encoding];
  // The last frame needs only its samples, not the whole blockAlign (when that is padded).
  const frameBytes = width * channels;
  const frames = end - start >= frameBytes ? Math.floor((end - start - frameBytes) / blockAlign) + 1 : 0;
  if (frames <= 0) throw new AudioDecodeError("no audio samples");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(frames);
  const read = reader(encoding, view);
  const scale = 1 / channels;
  for (let f = 0; f < frames; f++) {
    const base = start + f * blockAlign;
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += read(base + c * width);
    const v = sum * scale;
    // Float files may carry NaN or Infinity; they would poison every measure downstream.
    out[f] = finiteSample(v);
  }
  return { samples: out, sampleRate, channels, durationSeconds: frames / sampleRate };
}

/** ITU-T G.711 expansion tables, scaled to [-1, 1] (the 16-bit value / 32768). */
let g711: { alaw: Float32Array; mulaw: Float32Array } | undefined;
function g711Tables(): { alaw: Float32Array; mulaw: Float32Array } {
  if (g711) return g711;
  const alaw = new Float32Array(256);
  const mulaw = new Float32Array(256);
  for (let i = 0; i < 256; i++) {
    // A-law: even bits inverted; sign bit set = positive.
    const a = i ^ 0x55;
    const aexp = (a & 0x70) >> 4;
    const amant = a & 0x0f;
    let av = aexp === 0 ? (amant << 4) + 8 : ((amant << 4) + 0x108) << (aexp - 1);
    if (!(a & 0x80)) av = -av;
    alaw[i] = av / 32768;
    // µ-law: all bits inverted; bias 0x84.
    const u = ~i & 0xff;
    const uexp = (u & 0x70) >> 4;
    const umant = u & 0x0f;
    let uv = (((umant << 3) + 0x84) << uexp) - 0x84;
    if (u & 0x80) uv = -uv;
    mulaw[i] = uv / 32768;
  }
  g711 = { alaw, mulaw };
  return g711;
}

function reader(encoding: SampleEncoding, view: DataView): (at: number) => number {
  switch (encoding) {
    case "u8":
      return (at) => (view.getUint8(at) - 128) / 128;
    case "s16le":
      return (at) => view.getInt16(at, true) / 32768;
    case "s24le":
      return (at) => {
        const v = view.getUint8(at) | (view.getUint8(at + 1) << 8) | (view.getInt8(at + 2) << 16);
        return v / 8388608;
      };
    case "s32le":
      return (at) => view.getInt32(at, true) / 2147483648;
    case "f32le":
      return (at) => view.getFloat32(at, true);
    case "f64le":
      return (at) => view.getFloat64(at, true);
    case "alaw": {
      const t = g711Tables().alaw;
      return (at) => t[view.getUint8(at)] ?? 0;
    }
    case "mulaw": {
      const t = g711Tables().mulaw;
      return (at) => t[view.getUint8(at)] ?? 0;
    }
  }
}

/** Mono 16-bit PCM WAV, for the recogniser and for tests. */
export function encodeWav16(samples: Float32Array, rate: number): Uint8Array {
  const dataBytes = samples.length * 2;
  const out = new Uint8Array(44 + dataBytes);
  const view = new DataView(out.buffer);
  const text = (at: number, s: string) => {
    for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
  };
  text(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, WAVE_FORMAT_PCM, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.max(-1, Math.min(1, samples[i] ?? 0));
    view.setInt16(44 + i * 2, Math.min(32767, Math.round(v * 32768)), true);
  }
  return out;
}

// Windowed-sinc resampler (Kaiser window, beta 8.6, 24 zero crossings each side), with the kernel
// tabulated once and linearly interpolated: stop-band attenuation around 80 dB, which is plenty for
// a recogniser's 16 kHz front end.
const ZEROS = 24;
const TABLE_STEPS = 512;
const KAISER_BETA = 8.6;
let kernelTable: Float64Array | undefined;

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

function kernel(): Float64Array {
  if (kernelTable) return kernelTable;
  const n = ZEROS * TABLE_STEPS + 2;
  const table = new Float64Array(n);
  const i0b = besselI0(KAISER_BETA);
  for (let i = 0; i < n; i++) {
    const x = i / TABLE_STEPS;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const r = x / ZEROS;
    const w = r >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0b;
    table[i] = sinc * w;
  }
  kernelTable = table;
  return table;
}

export function resample(samples: Float32Array, fromRate: number, toRate: number): Float32Array {
  if (!(fromRate > 0 && toRate > 0)) throw new RangeError("sample rates must be positive");
  if (fromRate === toRate) return samples.slice();
  const table = kernel();
  const ratio = toRate / fromRate;
  // Downsampling: widen the kernel so its cutoff sits below the new Nyquist (anti-aliasing).
  const cutoff = Math.min(1, ratio) * 0.95;
  const halfWidth = ZEROS / cutoff;
  const outLength = Math.max(1, Math.round(samples.length * ratio));
  const out = new Float32Array(outLength);
  const step = fromRate / toRate;
  for (let i = 0; i < outLength; i++) {
    const t = i * step;
    const lo = Math.max(0, Math.ceil(t - halfWidth));
    const hi = Math.min(samples.length - 1, Math.floor(t + halfWidth));
    let acc = 0;
    for (let j = lo; j <= hi; j++) {
      const pos = Math.abs(t - j) * cutoff * TABLE_STEPS;
      const k = pos | 0;
      const frac = pos - k;
      const a = table[k] ?? 0;
      const b = table[k + 1] ?? 0;
      acc += (samples[j] ?? 0) * (a + (b - a) * frac);
    }
    out[i] = acc * cutoff;
  }
  return out;
}
