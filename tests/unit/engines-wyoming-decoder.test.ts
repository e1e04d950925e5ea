import { describe, expect, it } from "vitest";
import {
  encodeWyomingEvent,
  parseTcpUrl,
  WyomingDecoder,
  WyomingProtocolError,
} from "../../src/engines/wyoming.ts";

const stream = Buffer.concat([
  encodeWyomingEvent("audio-start", { rate: 22050, width: 2, channels: 1 }),
  encodeWyomingEvent("audio-chunk", { rate: 22050, width: 2, channels: 1 }, Buffer.from([1, 2, 3, 4])),
  // older servers: data inline in the header, no data block
  Buffer.from(`${JSON.stringify({ type: "audio-chunk", data: { rate: 22050 }, payload_length: 2 })}\n`),
  Buffer.from([9, 9]),
  encodeWyomingEvent("audio-stop"),
]);

describe("WyomingDecoder", () => {
  it("decodes header line + data block + payload, and inline data", () => {
    const events = new WyomingDecoder().push(stream);
    expect(events.map((e) => e.type)).toEqual(["audio-start", "audio-chunk", "audio-chunk", "audio-stop"]);
    expect(events[0]?.data).toEqual({ rate: 22050, width: 2, channels: 1 });
    expect(events[1]?.payload).toEqual(Buffer.from([1, 2, 3, 4]));
    expect(events[2]?.data).toEqual({ rate: 22050 });
    expect(events[2]?.payload).toEqual(Buffer.from([9, 9]));
  });

  it("gives the same events whatever the split of the byte stream (every cut point, and byte by byte)", () => {
    const expected = new WyomingDecoder().push(stream);
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new WyomingDecoder();
      expect([...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))]).toEqual(expected);
    }
    const d = new WyomingDecoder();
    const bytewise = [...stream].flatMap((b) => d.push(Buffer.from([b])));
    expect(bytewise).toEqual(expected);
    expect(d.partial).toBe(false);
  });

  it("merges the data block over inline data, as wyoming's reader does", () => {
    const header = { type: "info", data: { a: 1, b: 1 }, data_length: 7 };
    const [event] = new WyomingDecoder().push(Buffer.from(`${JSON.stringify(header)}\n{"b":2}`));
    expect(event?.data).toEqual({ a: 1, b: 2 });
  });

  it("throws a protocol error on broken framing", () => {
    const bad = [
      "not json\n",
      '{"data":{}}\n',
      '["audio-chunk"]\n',
      '{"type":"x","data_length":-1}\n',
      '{"type":"x","data_length":3}\n[1]',
      '{"type":"x","data":"str"}\n',
    ];
    for (const b of bad)
      expect(() => new WyomingDecoder().push(Buffer.from(b)), b).toThrow(WyomingProtocolError);
    expect(() => new WyomingDecoder().push(Buffer.alloc(70_000, 0x41))).toThrow(/without newline/);
  });

  it("reports a partial event (connection closed mid-payload)", () => {
    const d = new WyomingDecoder();
    const chunk = encodeWyomingEvent("audio-chunk", {}, Buffer.alloc(100));
    expect(d.push(chunk.subarray(0, chunk.length - 10))).toEqual([]);
    expect(d.partial).toBe(true);
  });
});

describe("parseTcpUrl", () => {
  it("parses tcp://host:port and rejects the rest", () => {
    expect(parseTcpUrl("tcp://127.0.0.1:10200")).toEqual({ host: "127.0.0.1", port: 10200 });
    expect(() => parseTcpUrl("http://x:1")).toThrow();
  });
});
