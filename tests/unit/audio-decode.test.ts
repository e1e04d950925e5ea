import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  AudioDecodeError,
  decodeAudio,
  encodeWav16,
  MAX_SAMPLE_MAGNITUDE,
  resample,
} from "../../src/audio/decode.ts";
import { seededRandom, sine } from "../../src/audio/signals.ts";
import { toneAnalysis } from "../../src/audio/tone.ts";
import { synthesizeWav } from "../fixtures/audio/speech.ts";

/** A WAV with any fmt, built byte by byte (what engines in the wild send). */
function wav(opts: {
  tag: number;
  channels: number;
  rate: number;
  bits: number;
  data: Uint8Array;
  extensible?: boolean;
  riffSize?: number;
  dataSize?: number;
  extraChunk?: boolean;
}): Uint8Array {
  const fmtSize = opts.extensible ? 40 : 16;
  const extra = opts.extraChunk ? 8 + 4 : 0;
  const out = new Uint8Array(12 + 8 + fmtSize + extra + 8 + opts.data.length);
  const v = new DataView(out.buffer);
  const text = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i);
  };
  text(0, "RIFF");
  v.setUint32(4, opts.riffSize ?? out.length - 8, true);
  text(8, "WAVE");
  text(12, "fmt ");
  v.setUint32(16, fmtSize, true);
  v.setUint16(20, opts.extensible ? 0xfffe : opts.tag, true);
  v.setUint16(22, opts.channels, true);
  v.setUint32(24, opts.rate, true);
  const align = (opts.channels * opts.bits) / 8;
  v.setUint32(28, opts.rate * align, true);
  v.setUint16(32, align, true);
  v.setUint16(34, opts.bits, true);
  let pos = 36;
  if (opts.extensible) {
    v.setUint16(36, 22, true);
    v.setUint16(38, opts.bits, true);
    v.setUint32(40, opts.channels === 2 ? 3 : 4, true);
    v.setUint16(44, opts.tag, true); // GUID starts with the format tag
    pos = 60;
  }
  if (opts.extraChunk) {
    text(pos, "LIST");
    v.setUint32(pos + 4, 4, true);
    text(pos + 8, "INFO");
    pos += 12;
  }
  text(pos, "data");
  v.setUint32(pos + 4, opts.dataSize ?? opts.data.length, true);
  out.set(opts.data, pos + 8);
  return out;
}

/** Encodes interleaved values in [-1, 1) for each supported PCM/float layout. */
function encode(values: number[], bits: number, float: boolean): Uint8Array {
  const width = bits / 8;
  const out = new Uint8Array(values.length * width);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => {
    const at = i * width;
    if (float && bits === 32) v.setFloat32(at, x, true);
    else if (float) v.setFloat64(at, x, true);
    else if (bits === 8) v.setUint8(at, Math.round(x * 128) + 128);
    else if (bits === 16) v.setInt16(at, Math.round(x * 32768), true);
    else if (bits === 24) {
      const n = Math.round(x * 8388608);
      v.setUint8(at, n & 0xff);
      v.setUint8(at + 1, (n >> 8) & 0xff);
      v.setInt8(at + 2, n >> 16);
    } else v.setInt32(at, Math.round(x * 2147483648), true);
  });
  return out;
}

const VALUES = [0, 0.5, -0.5, 0.25, -0.75, 0.125];

describe("decodeAudio: WAV layouts", () => {
  const layouts = [
    { bits: 8, float: false, tag: 1, tol: 1 / 128 },
    { bits: 16, float: false, tag: 1, tol: 1e-4 },
    { bits: 24, float: false, tag: 1, tol: 1e-6 },
    { bits: 32, float: false, tag: 1, tol: 1e-8 },
    { bits: 32, float: true, tag: 3, tol: 1e-7 },
    { bits: 64, float: true, tag: 3, tol: 1e-12 },
  ];
  for (const l of layouts) {
    for (const extensible of [false, true]) {
      it(`${l.float ? "float" : "PCM"} ${l.bits}-bit${extensible ? " (EXTENSIBLE)" : ""}, mono, 44.1 kHz`, () => {
        const d = decodeAudio(
          wav({
            tag: l.tag,
            channels: 1,
            rate: 44100,
            bits: l.bits,
            data: encode(VALUES, l.bits, l.float),
            extensible,
          }),
        );
        expect(d.sampleRate).toBe(44100);
        expect(d.channels).toBe(1);
        expect(d.samples.length).toBe(VALUES.length);
        VALUES.forEach((x, i) => expect(Math.abs((d.samples[i] ?? 0) - x)).toBeLessThanOrEqual(l.tol));
      });
    }
  }

  it("stereo is down-mixed to mono (mean of channels), any rate, with chunks before data", () => {
    const inter = [0.5, -0.5, 0.5, 0.5, -0.25, -0.75];
    const d = decodeAudio(
      wav({ tag: 1, channels: 2, rate: 11025, bits: 16, data: encode(inter, 16, false), extraChunk: true }),
    );
    expect(d.channels).toBe(2);
    expect(d.sampleRate).toBe(11025);
    expect(Array.from(d.samples)).toEqual([0, 0.5, -0.5]);
  });

  it("placeholder sizes (0, 0xFFFFFFFF, larger than the bytes): reads the bytes present", () => {
    for (const size of [0, 0xffffffff, 0x7ffff000]) {
      const d = decodeAudio(
        wav({
          tag: 1,
          channels: 1,
          rate: 16000,
          bits: 16,
          data: encode(VALUES, 16, false),
          dataSize: size,
          riffSize: size,
        }),
      );
      expect(d.samples.length).toBe(VALUES.length);
    }
  });

  it("espeak-ng --stdout (placeholder RIFF and data sizes) decodes to the whole utterance", () => {
    const bytes = new Uint8Array(execFileSync("/usr/bin/espeak-ng", ["--stdout", "Hello world"]));
    const header = new DataView(bytes.buffer, bytes.byteOffset).getUint32(40, true);
    expect(header).toBeGreaterThan(bytes.length); // the placeholder is really there
    const d = decodeAudio(bytes);
    expect(d.sampleRate).toBe(22050);
    expect(d.samples.length).toBe((bytes.length - 44) / 2);
  });

  it("real engine files decode (espeak-ng 22.05 kHz, flite 8 kHz, festival 16 kHz)", () => {
    expect(decodeAudio(synthesizeWav("espeak-ng")).sampleRate).toBe(22050);
    expect(decodeAudio(synthesizeWav("flite")).sampleRate).toBe(8000);
    expect(decodeAudio(synthesizeWav("festival")).sampleRate).toBe(16000);
  });
});

describe("decodeAudio: raw PCM", () => {
  it("decodes each stated encoding", () => {
    const cases = [
      { encoding: "s16le", bits: 16, float: false },
      { encoding: "s24le", bits: 24, float: false },
      { encoding: "s32le", bits: 32, float: false },
      { encoding: "f32le", bits: 32, float: true },
      { encoding: "u8", bits: 8, float: false },
    ] as const;
    for (const c of cases) {
      const d = decodeAudio(encode(VALUES, c.bits, c.float), {
        kind: "pcm",
        sampleRate: 24000,
        channels: 1,
        encoding: c.encoding,
      });
      expect(d.sampleRate).toBe(24000);
      expect(d.samples.length).toBe(VALUES.length);
      expect(Math.abs((d.samples[4] ?? 0) + 0.75)).toBeLessThan(0.01);
    }
  });
  it("rejects bad rates and channel counts", () => {
    const bytes = encode(VALUES, 16, false);
    expect(() => decodeAudio(bytes, { kind: "pcm", sampleRate: 0, channels: 1, encoding: "s16le" })).toThrow(
      AudioDecodeError,
    );
    expect(() =>
      decodeAudio(bytes, { kind: "pcm", sampleRate: 16000, channels: 0, encoding: "s16le" }),
    ).toThrow(AudioDecodeError);
  });
});

describe("decodeAudio: bad input", () => {
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ["empty", new Uint8Array(0), /empty/],
    ["not RIFF", new TextEncoder().encode("ID3\u0004 this is an mp3 file, honest"), /not a RIFF/],
    [
      "header only",
      wav({ tag: 1, channels: 1, rate: 16000, bits: 16, data: new Uint8Array(0) }),
      /no audio samples/,
    ],
    ["ADPCM", wav({ tag: 2, channels: 1, rate: 16000, bits: 4, data: new Uint8Array(10) }), /format tag 0x2/],
    [
      "48-bit PCM",
      wav({ tag: 1, channels: 1, rate: 16000, bits: 48, data: new Uint8Array(12) }),
      /bit depth 48/,
    ],
    [
      "0 channels",
      wav({ tag: 1, channels: 0, rate: 16000, bits: 16, data: new Uint8Array(10) }),
      /channel count 0/,
    ],
    ["rate 0", wav({ tag: 1, channels: 1, rate: 0, bits: 16, data: new Uint8Array(10) }), /sample rate 0/],
  ];
  for (const [name, bytes, reason] of cases) {
    it(`${name} → AudioDecodeError with a reason`, () => {
      let err: unknown;
      try {
        decodeAudio(bytes);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AudioDecodeError);
      expect((err as AudioDecodeError).name).toBe("AudioDecodeError");
      expect((err as AudioDecodeError).reason).toMatch(reason);
    });
  }
});

/** A RIFF (or RF64) file from raw chunks, for layouts the wav() helper cannot express. */
function riff(
  chunks: Array<[id: string, body: Uint8Array, opts?: { size?: number; pad?: boolean }]>,
  head = "RIFF",
): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [enc.encode("WAVE")];
  for (const [id, body, opts] of chunks) {
    const h = new Uint8Array(8);
    h.set(enc.encode(id), 0);
    new DataView(h.buffer).setUint32(4, opts?.size ?? body.length, true);
    parts.push(h, body);
    if (body.length % 2 === 1 && (opts?.pad ?? true)) parts.push(new Uint8Array(1));
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(8 + total);
  out.set(enc.encode(head), 0);
  new DataView(out.buffer).setUint32(4, head === "RIFF" ? total : 0xffffffff, true);
  let at = 8;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function fmtBody(tag: number, channels: number, rate: number, bits: number, blockAlign?: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  const align = blockAlign ?? channels * Math.ceil(bits / 8);
  v.setUint16(0, tag, true);
  v.setUint16(2, channels, true);
  v.setUint32(4, rate, true);
  v.setUint32(8, rate * align, true);
  v.setUint16(12, align, true);
  v.setUint16(14, bits, true);
  return b;
}

describe("decodeAudio: real-world WAV variants", () => {
  const pcm = encode(VALUES, 16, false);

  it("G.711 A-law and µ-law (format tags 6 and 7) decode by the ITU tables", () => {
    // A-law 0xD5/0x55 are ±8, 0xAA the largest (+32256); µ-law 0xFF is 0, 0x80 +32124, 0x00 -32124.
    const a = decodeAudio(
      riff([
        ["fmt ", fmtBody(6, 1, 8000, 8)],
        ["data", new Uint8Array([0xd5, 0x55, 0xaa, 0x2a])],
      ]),
    );
    expect(Array.from(a.samples, (x) => Math.round(x * 32768))).toEqual([8, -8, 32256, -32256]);
    const u = decodeAudio(
      riff([
        ["fmt ", fmtBody(7, 1, 8000, 8)],
        ["data", new Uint8Array([0xff, 0x7f, 0x80, 0x00])],
      ]),
    );
    expect(Array.from(u.samples, (x) => Math.round(x * 32768))).toEqual([0, 0, 32124, -32124]);
    // Every code: the sign bit flips the sign, and magnitudes grow monotonically with the code.
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (const tag of [6, 7]) {
      const d = decodeAudio(
        riff([
          ["fmt ", fmtBody(tag, 1, 8000, 8)],
          ["data", all],
        ]),
      ).samples;
      for (let i = 0; i < 128; i++) expect(d[i ^ 0x80]).toBe(-(d[i] ?? 0) || 0);
    }
  });

  it("RF64 (ds64 sizes, 0xFFFFFFFF placeholders) reads the data size from ds64, not the trailing chunk", () => {
    const ds64 = new Uint8Array(28);
    const v = new DataView(ds64.buffer);
    v.setUint32(8, pcm.length, true); // data size, low 32 bits
    const bytes = riff(
      [
        ["ds64", ds64],
        ["fmt ", fmtBody(1, 1, 16000, 16)],
        ["data", pcm, { size: 0xffffffff }],
        ["LIST", new TextEncoder().encode("INFOjunkjunk")],
      ],
      "RF64",
    );
    expect(Array.from(decodeAudio(bytes).samples)).toEqual(VALUES);
  });

  it("data before fmt, and an odd-sized chunk written without its pad byte, still decode", () => {
    const before = riff([
      ["data", pcm],
      ["fmt ", fmtBody(1, 1, 16000, 16)],
    ]);
    expect(Array.from(decodeAudio(before).samples)).toEqual(VALUES);
    const odd = new TextEncoder().encode("INFOISFTabc"); // 11 bytes
    for (const layout of [
      riff([
        ["LIST", odd, { pad: false }],
        ["fmt ", fmtBody(1, 1, 16000, 16)],
        ["data", pcm],
      ]),
      riff([
        ["fmt ", fmtBody(1, 1, 16000, 16)],
        ["LIST", odd, { pad: false }],
        ["data", pcm],
      ]),
      riff([
        ["fmt ", fmtBody(1, 1, 16000, 16)],
        ["LIST", odd],
        ["data", pcm],
      ]),
    ]) {
      expect(Array.from(decodeAudio(layout).samples)).toEqual(VALUES);
    }
  });

  it("PCM depths that are not whole bytes sit in byte containers (12 in 2, 20 in 3); 24-bit in 4 bytes", () => {
    expect(
      Array.from(
        decodeAudio(
          riff([
            ["fmt ", fmtBody(1, 1, 16000, 12)],
            ["data", pcm],
          ]),
        ).samples,
      ),
    ).toEqual(VALUES);
    const d24 = decodeAudio(
      riff([
        ["fmt ", fmtBody(1, 1, 16000, 20)],
        ["data", encode(VALUES, 24, false)],
      ]),
    );
    VALUES.forEach((x, i) => expect(d24.samples[i]).toBeCloseTo(x, 6));
    const d32 = decodeAudio(
      riff([
        ["fmt ", fmtBody(1, 2, 16000, 24, 8)],
        ["data", encode([0.5, 0.5, -0.25, -0.25], 32, false)],
      ]),
    );
    expect(Array.from(d32.samples)).toEqual([0.5, -0.25]);
  });

  it("float samples beyond the float32 range or non-finite come out finite (clamped or 0), never Infinity", () => {
    const f64 = new Uint8Array(5 * 8);
    const v = new DataView(f64.buffer);
    [0.5, 1e300, -1e300, Number.NaN, Number.POSITIVE_INFINITY].forEach((x, i) =>
      v.setFloat64(i * 8, x, true),
    );
    const d = decodeAudio(
      riff([
        ["fmt ", fmtBody(3, 1, 16000, 64)],
        ["data", f64],
      ]),
    );
    expect(Array.from(d.samples)).toEqual([0.5, MAX_SAMPLE_MAGNITUDE, -MAX_SAMPLE_MAGNITUDE, 0, 0]);
  });

  it("other formats handed in as WAV: the reason names what they are", () => {
    const enc = new TextEncoder();
    const cases: Array<[Uint8Array, RegExp]> = [
      [Uint8Array.from([0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), /MP3.*not a RIFF\/WAV/],
      [enc.encode("ID3\u0004\u0000\u0000\u0000\u0000\u0000\u0000 mp3"), /MP3.*not a RIFF\/WAV/],
      [enc.encode("OggS\u0000\u0002 opus or vorbis"), /Ogg/],
      [enc.encode("fLaC\u0000\u0000\u0000\u0022 flac"), /FLAC/],
      [enc.encode("FORM\u0000\u0000\u0000\u0010AIFFCOMM"), /AIFF/],
      [enc.encode('{"error":"rate limited"}'), /text/],
      [enc.encode("RIFF\u0010\u0000\u0000\u0000AVI LIST"), /not WAVE.*AVI/],
      [wav({ tag: 0x55, channels: 1, rate: 16000, bits: 0, data: new Uint8Array(10) }), /0x55 \(MP3/],
      [wav({ tag: 0x11, channels: 1, rate: 16000, bits: 4, data: new Uint8Array(10) }), /IMA ADPCM/],
    ];
    for (const [bytes, reason] of cases) {
      expect(() => decodeAudio(bytes)).toThrow(AudioDecodeError);
      try {
        decodeAudio(bytes);
      } catch (e) {
        expect((e as AudioDecodeError).reason).toMatch(reason);
      }
    }
  });

  it("a raw PCM encoding named like an Object property is rejected, not read as garbage", () => {
    const format = {
      kind: "pcm",
      sampleRate: 16000,
      channels: 1,
      encoding: "toString",
    } as unknown as Parameters<typeof decodeAudio>[1];
    expect(() => decodeAudio(pcm, format)).toThrow(/unsupported PCM encoding/);
  });
});

describe("decodeAudio: fuzz (only returns or throws AudioDecodeError)", () => {
  const seeds = [synthesizeWav("flite", "Fuzz me."), encodeWav16(sine(440, 8000, 0.05), 8000)];
  const float = wav({
    tag: 3,
    channels: 2,
    rate: 8000,
    bits: 32,
    data: encode(VALUES, 32, true),
    extensible: true,
  });
  seeds.push(float);

  function check(bytes: Uint8Array, format?: Parameters<typeof decodeAudio>[1]): void {
    try {
      const d = decodeAudio(bytes, format);
      expect(d.samples.length).toBeGreaterThan(0);
      for (const v of d.samples) if (!Number.isFinite(v)) throw new Error("non-finite sample");
    } catch (e) {
      if (!(e instanceof AudioDecodeError)) throw e;
    }
  }

  it("random bytes, with and without a RIFF/WAVE prefix (3000 cases)", () => {
    const rng = seededRandom(42);
    for (let n = 0; n < 3000; n++) {
      const len = Math.floor(rng() * 200);
      const bytes = new Uint8Array(len + (n % 2 ? 12 : 0));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng() * 256);
      if (n % 2) bytes.set(new TextEncoder().encode("RIFF\u0000\u0000\u0000\u0000WAVE"), 0);
      check(bytes);
    }
  });

  it("truncations and bit flips of real WAVs (4000 cases)", () => {
    const rng = seededRandom(7);
    for (let n = 0; n < 4000; n++) {
      const src = seeds[n % seeds.length] ?? new Uint8Array(0);
      const cut = n % 3 === 0 ? Math.floor(rng() * src.length) : src.length;
      const bytes = src.slice(0, cut);
      const flips = 1 + Math.floor(rng() * 8);
      for (let f = 0; f < flips && bytes.length > 0; f++) {
        // Mostly in the header, where the lengths and tags live.
        const at =
          rng() < 0.8 ? Math.floor(rng() * Math.min(80, bytes.length)) : Math.floor(rng() * bytes.length);
        bytes[at] = (bytes[at] ?? 0) ^ (1 << Math.floor(rng() * 8));
      }
      check(bytes);
    }
  });

  it("raw PCM with random formats (500 cases)", () => {
    const rng = seededRandom(9);
    const encodings = ["s16le", "s24le", "s32le", "f32le", "u8"] as const;
    for (let n = 0; n < 500; n++) {
      const bytes = new Uint8Array(Math.floor(rng() * 64));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng() * 256);
      check(bytes, {
        kind: "pcm",
        sampleRate: Math.floor(rng() * 100_000) - 1000,
        channels: Math.floor(rng() * 20) - 2,
        encoding: encodings[n % encodings.length] ?? "s16le",
      });
    }
  });
});

describe("encodeWav16 and resample", () => {
  it("encodeWav16 round-trips through decodeAudio within one LSB", () => {
    const x = sine(440, 16000, 0.1, 0.9);
    const d = decodeAudio(encodeWav16(x, 16000));
    expect(d.sampleRate).toBe(16000);
    expect(d.samples.length).toBe(x.length);
    let err = 0;
    for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs((d.samples[i] ?? 0) - (x[i] ?? 0)));
    expect(err).toBeLessThanOrEqual(0.5 / 32768 + 1e-9);
  });

  it("22.05 → 16 kHz keeps a 1 kHz tone clean (SINAD > 60 dB) and the right length", () => {
    const y = resample(sine(1000, 22050, 1, 0.5), 22050, 16000);
    expect(y.length).toBe(16000);
    const t = toneAnalysis(y.subarray(200, y.length - 200), 16000);
    expect(t?.fundamentalHz).toBeCloseTo(1000, 0);
    expect(t?.sinadDb).toBeGreaterThan(60);
  });

  it("44.1 → 16 kHz removes a 10 kHz tone above the new Nyquist (anti-aliasing, > 60 dB down)", () => {
    const y = resample(sine(10000, 44100, 0.5, 0.5), 44100, 16000);
    let s = 0;
    for (let i = 200; i < y.length - 200; i++) s += (y[i] ?? 0) ** 2;
    const rms = Math.sqrt(s / (y.length - 400));
    expect(20 * Math.log10(rms / (0.5 / Math.SQRT2))).toBeLessThan(-60);
  });

  it("8 → 16 kHz upsampling keeps the tone", () => {
    const y = resample(sine(440, 8000, 0.5, 0.5), 8000, 16000);
    const t = toneAnalysis(y.subarray(200, y.length - 200), 16000);
    expect(t?.fundamentalHz).toBeCloseTo(440, 0);
    expect(t?.sinadDb).toBeGreaterThan(60);
  });
});
