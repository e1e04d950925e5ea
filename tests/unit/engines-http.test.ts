import { describe, expect, it } from "vitest";
import { pcmFromContentType, redirectTarget } from "../../src/engines/http.ts";

describe("redirectTarget", () => {
  const from = new URL("http://127.0.0.1:8880/v1/audio/speech/");
  it("is undefined for answers that are not a redirect, or name no Location", () => {
    expect(redirectTarget(from, "POST", 200, "/x")).toBeUndefined();
    expect(redirectTarget(from, "POST", 300, "/x")).toBeUndefined();
    expect(redirectTarget(from, "POST", 307, undefined)).toBeUndefined();
  });
  it("follows 307/308 with the same method, relative Locations resolved against the request URL", () => {
    expect(redirectTarget(from, "POST", 307, "/v1/audio/speech")).toEqual({
      url: new URL("http://127.0.0.1:8880/v1/audio/speech"),
      method: "POST",
    });
    expect(redirectTarget(from, "POST", 308, "https://tts.example/v1")).toMatchObject({ method: "POST" });
  });
  it("follows every redirect of a GET, none of 301/302/303 for a POST (its body would be lost)", () => {
    for (const status of [301, 302, 303, 307, 308]) {
      expect(redirectTarget(from, "GET", status, "/api/tts")).toMatchObject({ method: "GET" });
    }
    for (const status of [301, 302, 303]) {
      expect(redirectTarget(from, "POST", status, "/v2")).toMatch(/configure that URL instead/);
    }
  });
  it("refuses a Location that is not http(s)", () => {
    expect(redirectTarget(from, "GET", 302, "file:///etc/passwd")).toMatch(/non-HTTP/);
  });
});

describe("pcmFromContentType", () => {
  const fallback = { kind: "pcm", sampleRate: 24_000, channels: 1, encoding: "s16le" } as const;
  it("reads openedai-speech's audio/pcm;rate=22050 and audio/L16; rate=…; channels=…", () => {
    expect(pcmFromContentType("audio/pcm;rate=22050", fallback).sampleRate).toBe(22_050);
    expect(pcmFromContentType("audio/L16; rate=16000; channels=2", fallback)).toMatchObject({
      sampleRate: 16_000,
      channels: 2,
    });
  });
  it("keeps the fallback when the type says nothing (Kokoro's audio/pcm, idiap Coqui's audio/L16)", () => {
    expect(pcmFromContentType("audio/pcm", fallback)).toEqual(fallback);
    expect(pcmFromContentType("audio/L16", fallback)).toEqual(fallback);
  });
});
