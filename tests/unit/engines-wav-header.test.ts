import { describe, expect, it } from "vitest";
import { EngineError } from "../../src/engines/types.ts";
import { checkPcm, checkWav, compressedAudio, probeWavHeader } from "../../src/engines/wav-header.ts";

/** A 16-bit mono WAV with optional extra chunks before `data`, and a chosen declared data size. */
function wav(samples: number, opts: { declared?: number; extra?: Buffer; rate?: number } = {}): Buffer {
  const data = Buffer.alloc(samples * 2, 7);
  const fmt = Buffer.alloc(24);
  fmt.write("fmt ", 0, "latin1");
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8);
  fmt.writeUInt16LE(1, 10);
  fmt.writeUInt32LE(opts.rate ?? 16_000, 12);
  fmt.writeUInt32LE((opts.rate ?? 16_000) * 2, 16);
  fmt.writeUInt16LE(2, 20);
  fmt.writeUInt16LE(16, 22);
  const dataHeader = Buffer.alloc(8);
  dataHeader.write("data", 0, "latin1");
  dataHeader.writeUInt32LE(opts.declared ?? data.length, 4);
  const body = Buffer.concat([Buffer.from("WAVE"), fmt, opts.extra ?? Buffer.alloc(0), dataHeader, data]);
  const riff = Buffer.alloc(8);
  riff.write("RIFF", 0, "latin1");
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

const reasonOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof EngineError ? e.reason : "not an EngineError";
  }
  return "no error";
};

describe("probeWavHeader", () => {
  it("finds the first sample byte after a plain 44-byte header", () => {
    const probe = probeWavHeader(wav(100));
    expect(probe).toMatchObject({
      state: "ok",
      layout: { dataOffset: 44, dataSize: 200, sampleRate: 16_000, channels: 1, bitsPerSample: 16 },
    });
  });

  it("walks past LIST chunks (odd sizes padded) to the data chunk", () => {
    const list = Buffer.concat([
      Buffer.from("LIST"),
      Buffer.from([5, 0, 0, 0]),
      Buffer.from("INFOx"),
      Buffer.alloc(1),
    ]);
    expect(probeWavHeader(wav(10, { extra: list }))).toMatchObject({
      state: "ok",
      layout: { dataOffset: 44 + 14 },
    });
  });

  it("needs more bytes for every prefix shorter than the header, then says ok", () => {
    const w = wav(10);
    for (let n = 0; n < 44; n++)
      expect(probeWavHeader(w.subarray(0, n)).state, `prefix ${n}`).toBe("need_more");
    expect(probeWavHeader(w.subarray(0, 44)).state).toBe("ok");
  });

  it("rejects HTML, JSON and MP3 at once", () => {
    for (const body of ["<!doctype html>", '{"error":"x"}', "ID3\u0003\u0000\u0000"]) {
      expect(probeWavHeader(Buffer.from(body)).state).toBe("invalid");
    }
  });

  it("treats espeak-ng's 0x7ffff000 and ffmpeg's 0xffffffff sizes as placeholders", () => {
    for (const declared of [0x7ffff000, 0xffffffff]) {
      const probe = probeWavHeader(wav(10, { declared }));
      expect(probe).toMatchObject({ state: "ok", layout: { dataSize: undefined } });
    }
  });
});

describe("checkWav / checkPcm", () => {
  it("accepts a complete WAV and a placeholder-size WAV", () => {
    expect(reasonOf(() => checkWav(wav(100), "t"))).toBe("no error");
    expect(reasonOf(() => checkWav(wav(100, { declared: 0x7ffff000 }), "t"))).toBe("no error");
  });
  it("empty body or no samples → empty_audio", () => {
    expect(reasonOf(() => checkWav(Buffer.alloc(0), "t"))).toBe("empty_audio");
    expect(reasonOf(() => checkWav(wav(0), "t"))).toBe("empty_audio");
  });
  it("truncated (fewer bytes than declared), cut header, not RIFF → bad_audio", () => {
    expect(reasonOf(() => checkWav(wav(100).subarray(0, 100), "t"))).toBe("bad_audio");
    expect(reasonOf(() => checkWav(wav(100).subarray(0, 30), "t"))).toBe("bad_audio");
    expect(reasonOf(() => checkWav(Buffer.from("<html>oops</html>"), "t"))).toBe("bad_audio");
  });
  it("PCM: JSON body or a partial frame → bad_audio; empty → empty_audio", () => {
    const fmt = { kind: "pcm", sampleRate: 24_000, channels: 1, encoding: "s16le" } as const;
    expect(reasonOf(() => checkPcm(Buffer.alloc(480), fmt, "t"))).toBe("no error");
    expect(reasonOf(() => checkPcm(Buffer.from('{"detail":"Not Found"}'), fmt, "t"))).toBe("bad_audio");
    expect(reasonOf(() => checkPcm(Buffer.alloc(481), fmt, "t"))).toBe("bad_audio");
    expect(reasonOf(() => checkPcm(Buffer.alloc(0), fmt, "t"))).toBe("empty_audio");
  });
});

describe("compressedAudio", () => {
  const mp3Frame = Buffer.from([0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0]);
  it("names MP3 (ID3 tag or frame sync), Ogg, FLAC, MP4 and WebM bodies by their magic bytes", () => {
    expect(compressedAudio(Buffer.concat([Buffer.from("ID3"), Buffer.alloc(10)]), "", false)).toBe("MP3");
    expect(compressedAudio(mp3Frame, "", true)).toBe("MP3");
    expect(compressedAudio(Buffer.from([0xff, 0xf1, 0x50, 0x80]), "", true)).toBe("AAC");
    expect(compressedAudio(Buffer.from("OggS\0\x02"), "", false)).toBe("Ogg");
    expect(compressedAudio(Buffer.from("fLaC\0\0\0\x22"), "", false)).toBe("FLAC");
    expect(compressedAudio(Buffer.from("\0\0\0\x20ftypM4A "), "", false)).toBe("MP4");
    expect(compressedAudio(Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 1]), "", false)).toBe("WebM");
  });

  it("names them by Content-Type too, and trusts frame sync words only where a WAV was expected", () => {
    expect(compressedAudio(Buffer.alloc(64), "audio/mpeg", false)).toBe("MP3");
    expect(compressedAudio(Buffer.alloc(64), "audio/ogg", false)).toBe("Ogg");
    // raw PCM may well start with 0xff 0xfb (a sample of -1025): not MP3 when PCM was asked
    expect(compressedAudio(mp3Frame, "audio/pcm", false)).toBeUndefined();
    expect(compressedAudio(Buffer.alloc(64), "audio/wav", true)).toBeUndefined();
    expect(compressedAudio(Buffer.from("<html>"), "text/html", true)).toBeUndefined();
  });
});
