import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { crossSiteProblem, wideUnicode } from "../../src/ingest/http.ts";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { sampleValue } from "../helpers/http.ts";

// Ingestion cannot be triggered from a web page: only application/json in UTF-8 is read (a page's
// no-cors fetch can only send text/plain, form or multipart bodies), and without a token a request
// a browser marks as coming from another site or origin is refused.

const monitors: TTSPerformanceMonitor[] = [];
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
});

const EVENT = JSON.stringify({ engine: "made-up", latency_ms: 99_999 });

async function start(env: Record<string, string> = {}) {
  const monitor = new TTSPerformanceMonitor({
    config: {
      engines: [],
      monitoring: { collectors: { gpu: false, process: false, disk: false, filesystem: false } },
    },
    listenAddress: "127.0.0.1:0",
    logger: new Logger({ json: true, sink: { write: () => {} } }),
    env,
  });
  monitors.push(monitor);
  await monitor.startMonitoring();
  const base = `http://${monitor.address}`;
  const post = async (headers: Record<string, string>, body: BodyInit = EVENT) => {
    const res = await fetch(`${base}/api/v1/syntheses`, { method: "POST", headers, body });
    return { status: res.status, error: ((await res.json()) as { error?: string }).error ?? "" };
  };
  const recorded = async () =>
    sampleValue(
      await (await fetch(`${base}/metrics`)).text(),
      'tts_latency_seconds_count{engine="made-up",voice="default",source="ingest"}',
    ) ?? 0;
  return { monitor, base, post, recorded };
}

const json = { "content-type": "application/json" };

describe("ingestion reads only application/json in UTF-8", () => {
  it("refuses other content types with 415 before reading the body", async () => {
    const { post, recorded } = await start();
    for (const type of [
      "text/plain",
      "text/plain;charset=UTF-8",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonx",
      "",
    ]) {
      const r = await post(type === "" ? {} : { "content-type": type });
      expect(r.status, type).toBe(415);
      expect(r.error, type).toMatch(/application\/json/);
    }
    expect(await recorded()).toBe(0);
    for (const ok of [
      "application/json",
      "Application/JSON; charset=utf-8",
      'application/json;charset="UTF-8"',
    ])
      expect((await post({ "content-type": ok })).status, ok).toBe(202);
    expect(await recorded()).toBe(3);
  });

  it("UTF-16 and UTF-32 bodies get 415, with or without a byte order mark or a charset", async () => {
    const { post, recorded } = await start();
    const utf16le = Buffer.from(EVENT, "utf16le");
    const utf16be = Buffer.from(utf16le).swap16();
    const utf32le = Buffer.alloc(EVENT.length * 4);
    for (let i = 0; i < EVENT.length; i++) utf32le.writeUInt32LE(EVENT.charCodeAt(i), i * 4);
    const utf32be = Buffer.from(utf32le).swap32();
    const bodies: Array<[string, Buffer, Record<string, string>]> = [
      ["UTF-16LE", utf16le, json],
      ["UTF-16BE", utf16be, json],
      ["UTF-16LE with BOM", Buffer.concat([Buffer.from([0xff, 0xfe]), utf16le]), json],
      ["UTF-16 charset", utf16le, { "content-type": "application/json; charset=utf-16" }],
      ["UTF-32LE", utf32le, json],
      ["UTF-32BE with BOM", Buffer.concat([Buffer.from([0, 0, 0xfe, 0xff]), utf32be]), json],
      ["UTF-32 charset", utf32le, { "content-type": "application/json; charset=utf-32" }],
    ];
    for (const [what, body, headers] of bodies) {
      const r = await post(headers, new Uint8Array(body));
      expect(r.status, what).toBe(415);
      expect(r.error, what).toMatch(/UTF-8/);
    }
    expect(await recorded()).toBe(0);
    expect(wideUnicode(Buffer.from(EVENT))).toBeUndefined();
    expect(wideUnicode(Buffer.from("1"))).toBeUndefined();
  });
});

describe("without a token, requests from other sites are refused", () => {
  it("Sec-Fetch-Site: cross-site and a foreign Origin get 403; same origin and programs pass", async () => {
    const { base, post, recorded } = await start();
    const host = new URL(base).host;
    for (const headers of [
      { "sec-fetch-site": "cross-site" },
      { origin: "https://evil.example" },
      { origin: "http://localhost:3000" }, // same site, another port: still another origin
      { origin: "null" },
      { origin: "not a url" },
    ]) {
      const r = await post({ ...json, ...headers });
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(r.error).toMatch(/token/);
    }
    expect(await recorded()).toBe(0);
    // A text/plain no-cors post from another site is refused whichever check sees it first.
    expect((await post({ "content-type": "text/plain", origin: "https://evil.example" })).status).toBe(403);
    expect((await post({ ...json, origin: `http://${host}`, "sec-fetch-site": "same-origin" })).status).toBe(
      202,
    );
    expect((await post({ ...json, "sec-fetch-site": "none" })).status).toBe(202);
    expect((await post(json)).status).toBe(202);
    expect(await recorded()).toBe(3);
  });

  it("the Host header is what the origin must match (a proxy in front keeps it)", async () => {
    const { monitor } = await start();
    const [hostname, port] = [monitor.address?.split(":")[0], Number(monitor.address?.split(":")[1])];
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: hostname,
          port,
          method: "POST",
          path: "/api/v1/syntheses",
          headers: { ...json, host: "tts.example:9090", origin: "https://tts.example:9090" },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end(EVENT);
    });
    expect(status).toBe(202);
    expect(crossSiteProblem(undefined, "http://a.example:1", "a.example:2")).toMatch(/origin/);
    expect(crossSiteProblem(undefined, "http://A.example:1", "a.example:1")).toBeUndefined();
  });

  it("with a token, a browser's request with the token is accepted from any origin", async () => {
    const { post, recorded } = await start({ TTS_MONITOR_INGEST_TOKEN: "s3cret-token" });
    const cross = { ...json, origin: "https://dashboard.example", "sec-fetch-site": "cross-site" };
    expect((await post(cross)).status).toBe(401);
    expect((await post({ ...cross, authorization: "Bearer s3cret-token" })).status).toBe(202);
    expect(await recorded()).toBe(1);
  });
});
