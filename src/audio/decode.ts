// Audio decoding: WAV (PCM 8/16/24/32-bit, IEEE float 32/64, WAVE_FORMAT_EXTENSIBLE) and raw PCM,
// down-mixed to mono Float32Array in [-1, 1]. Bytes come from engines and from the ingestion API,
// so every length and offset is checked: bad input throws AudioDecodeError, never anything else.

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
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
const MAX_CHANNELS = 16;
const MIN_RATE = 1000;
const MAX_RATE = 768_000;

type SampleEncoding = "u8" | "s16le" | "s24le" | "s32le" | "f32le" | "f64le";

const BYTES: Record<SampleEncoding, number> = { u8: 1, s16le: 2, s24le: 3, s32le: 4, f32le: 4, f64le: 8 };

export function decodeAudio(bytes: Uint8Array, format: AudioFormat = { kind: "wav" }): DecodedAudio {
  if (!(bytes instanceof Uint8Array)) throw new AudioDecodeError("input is not a byte array");
  if (bytes.length === 0) throw new AudioDecodeError("empty input");
  if (format.kind === "pcm") {
    checkRate(format.sampleRate);
    checkChannels(format.channels);
    if (!(format.encoding in BYTES))
      throw new AudioDecodeError(`unsupported PCM encoding ${format.encoding}`);
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

function decodeWav(bytes: Uint8Array): DecodedAudio {
  if (bytes.length < 12) throw new AudioDecodeError("too short for a WAV header");
  const riff = ascii(bytes, 0);
  if (riff !== "RIFF") {
    throw new AudioDecodeError(riff === "RF64" ? "RF64 WAV is not supported" : "not a RIFF/WAV file");
  }
  if (ascii(bytes, 8) !== "WAVE") throw new AudioDecodeError("RIFF file is not WAVE");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  let fmt: { encoding: SampleEncoding; channels: number; rate: number; blockAlign: number } | undefined;
  let pos = 12;
  // Each iteration advances by at least 8 bytes, so the walk always ends.
  while (pos + 8 <= bytes.length) {
    const id = ascii(bytes, pos);
    const size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === "fmt ") {
      if (size < 16 || body + 16 > bytes.length) throw new AudioDecodeError("fmt chunk too short");
      fmt = parseFmt(view, body, size);
    } else if (id === "data") {
      if (!fmt) throw new AudioDecodeError("data chunk before fmt chunk");
      // Streaming writers (espeak-ng --stdout, pipes) leave placeholder sizes (0, 0xFFFFFFFF, or
      // a large guess): read the bytes present.
      const end = size === 0 || size === 0xffffffff ? bytes.length : Math.min(bytes.length, body + size);
      return toMono(bytes, body, end, fmt.encoding, fmt.channels, fmt.rate, fmt.blockAlign);
    }
    pos = body + size + (size & 1);
  }
  throw new AudioDecodeError(fmt ? "no data chunk" : "no fmt chunk");
}

function parseFmt(
  view: DataView,
  at: number,
  size: number,
): { encoding: SampleEncoding; channels: number; rate: number; blockAlign: number } {
  let tag = view.getUint16(at, true);
  const channels = view.getUint16(at + 2, true);
  const rate = view.getUint32(at + 4, true);
  const blockAlign = view.getUint16(at + 12, true);
  const bits = view.getUint16(at + 14, true);
  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    if (size < 40 || at + 26 > view.byteLength)
      throw new AudioDecodeError("WAVE_FORMAT_EXTENSIBLE fmt too short");
    // The sub-format GUID starts with the classic format tag.
    tag = view.getUint16(at + 24, true);
  }
  checkChannels(channels);
  checkRate(rate);
  let encoding: SampleEncoding;
  if (tag === WAVE_FORMAT_PCM) {
    const byBits: Record<number, SampleEncoding> = { 8: "u8", 16: "s16le", 24: "s24le", 32: "s32le" };
    const e = byBits[bits];
    if (!e) throw new AudioDecodeError(`unsupported PCM bit depth ${bits}`);
    encoding = e;
  } else if (tag === WAVE_FORMAT_IEEE_FLOAT) {
    if (bits !== 32 && bits !== 64) throw new AudioDecodeError(`unsupported float bit depth ${bits}`);
    encoding = bits === 32 ? "f32le" : "f64le";
  } else {
    throw new AudioDecodeError(`unsupported WAV format tag 0x${tag.toString(16)}`);
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
  const frames = Math.floor((end - start) / blockAlign);
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
    out[f] = Number.isFinite(v) ? v : 0;
  }
  return { samples: out, sampleRate, channels, durationSeconds: frames / sampleRate };
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
