import { writeFileSync } from "node:fs";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Logger } from "../../src/log.ts";
import { TTSPerformanceMonitor } from "../../src/monitor.ts";
import { BASE_CONFIG, tempDir } from "../helpers/exporter.ts";
import { type SimServer, startSimServer } from "../helpers/sim-server.ts";

// The gateway listens through the exporter's shared web config (issue 15): basic auth applies to
// it like to every port; with its own token, an OpenAI client's bearer request skips basic auth and
// the gateway checks the token.

const PASSWORD = "gateway-basic-password";
let sim: SimServer;
let file: string;

beforeAll(async () => {
  sim = await startSimServer({ workers: 2, serviceTimeMs: 20 });
  file = join(tempDir("tts-gw-web-"), "web.yml");
  writeFileSync(file, ["basic_auth_users:", `  client: ${bcrypt.hashSync(PASSWORD, 4)}`, ""].join("\n"));
});
afterAll(async () => {
  await sim?.close();
});

async function start(env: Record<string, string>) {
  const monitor = new TTSPerformanceMonitor({
    config: {
      ...BASE_CONFIG,
      engines: [sim.engineConfig("sim")],
      gateway: { listen_address: "127.0.0.1:0" },
    },
    webConfigFile: file,
    gateway: true,
    listenAddress: "127.0.0.1:0",
    env,
    logger: new Logger({ json: true, sink: { write: () => {} } }),
  });
  await monitor.startMonitoring();
  return monitor;
}

const post = (url: string, authorization?: string) =>
  fetch(`${url}/v1/audio/speech`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(authorization && { Authorization: authorization }) },
    body: JSON.stringify({ model: "sim", input: "Behind basic auth.", response_format: "wav" }),
  });

describe("gateway behind the web config", () => {
  it("basic auth guards it; without a gateway token, the right password passes", async () => {
    const monitor = await start({});
    try {
      const url = `http://${monitor.gatewayAddress}`;
      expect((await post(url)).status).toBe(401);
      const basic = `Basic ${Buffer.from(`client:${PASSWORD}`).toString("base64")}`;
      const ok = await post(url, basic);
      expect(ok.status).toBe(200);
      expect(Buffer.from(await ok.arrayBuffer()).equals(sim.wav)).toBe(true);
      expect((await post(url, "Bearer anything")).status).toBe(401);
    } finally {
      await monitor.stop();
    }
  });

  it("with a gateway token, the OpenAI client's bearer request passes and a wrong token does not", async () => {
    const monitor = await start({ TTS_MONITOR_GATEWAY_TOKEN: "gw-token-42" });
    try {
      const url = `http://${monitor.gatewayAddress}`;
      expect((await post(url, "Bearer gw-token-42")).status).toBe(200);
      const wrong = await post(url, "Bearer nope");
      expect(wrong.status).toBe(401);
      expect(((await wrong.json()) as { error: { type: string } }).error.type).toBe("authentication_error");
    } finally {
      await monitor.stop();
    }
  });
});
