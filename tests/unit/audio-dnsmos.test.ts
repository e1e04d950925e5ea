// DNSMOS P.835's windowing and mapping (the parts of the reference procedure that need no model).
import { describe, expect, it } from "vitest";
import {
  capWindows,
  DNSMOS_WINDOW_SAMPLES,
  dnsmosWindows,
  mapDnsmosP835,
} from "../../src/audio/mos/dnsmos.ts";

describe("DNSMOS P.835 windows (reference dnsmos_local.py)", () => {
  it("a window is int(9.01 * 16000) = 144160 samples", () => {
    expect(DNSMOS_WINDOW_SAMPLES).toBe(144160);
  });

  it("short audio is doubled until it fills a window: 3 s → 12 s, int(12 - 9.01) + 1 = 3 windows", () => {
    const x = Float32Array.from({ length: 48000 }, (_, i) => i);
    const { extended, windows } = dnsmosWindows(x);
    expect(extended.length).toBe(192000);
    expect(extended[48000]).toBe(0);
    expect(extended[191999]).toBe(47999);
    expect(windows).toEqual([
      { start: 0, end: 144160 },
      { start: 16000, end: 160160 },
      { start: 32000, end: 176160 },
    ]);
  });

  it("windows hop by 1 s; from index 7 the float end index falls short and the window is skipped", () => {
    const { windows } = dnsmosWindows(new Float32Array(30 * 16000));
    // int(floor(30) - 9.01) + 1 = 21 hops, of which only 0-6 are full length, as in Python.
    expect(windows.map((w) => w.start / 16000)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    for (const w of windows) expect(w.end - w.start).toBe(144160);
  });

  it("no samples is an error, not an endless loop", () => {
    expect(() => dnsmosWindows(new Float32Array(0))).toThrow(RangeError);
  });

  it("the cap keeps the first and the last window and spreads the rest", () => {
    const w = [0, 1, 2, 3, 4, 5, 6];
    expect(capWindows(w, 3)).toEqual([0, 3, 6]);
    expect(capWindows(w, 1)).toEqual([0]);
    expect(capWindows(w, 10)).toEqual(w);
  });

  it("maps raw outputs by the non-personalised polynomials (np.poly1d, highest power first)", () => {
    const m = mapDnsmosP835({ sig: 3, bak: 4, ovrl: 2.5 });
    expect(m.sig).toBeCloseTo(-0.08397278 * 9 + 1.22083953 * 3 + 0.0052439, 12);
    expect(m.bak).toBeCloseTo(-0.13166888 * 16 + 1.60915514 * 4 - 0.39604546, 12);
    expect(m.ovrl).toBeCloseTo(-0.06766283 * 6.25 + 1.11546468 * 2.5 + 0.04602535, 12);
  });
});
