import type { Server } from "node:http";
import { type Config, configSchema, type EngineConfig } from "../../src/config/schema.ts";
import { createEngine } from "../../src/engines/index.ts";
import type { Engine } from "../../src/engines/types.ts";
import { createGateway, type Gateway, type GatewayDeps, listenGateway } from "../../src/gateway/index.ts";
import { SynthesisRecorder } from "../../src/ingest/recorder.ts";
import { Logger } from "../../src/log.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { boundAddress, closeServer } from "../../src/server/listen.ts";

export interface TestGateway {
  readonly url: string;
  readonly gateway: Gateway;
  readonly registry: MetricsRegistry;
  readonly logs: string[];
  close(): Promise<void>;
}

/** A gateway on 127.0.0.1:0 in front of these engines, recording into its own registry. */
export async function startTestGateway(
  engines: readonly EngineConfig[],
  gateway: Record<string, unknown> = {},
  deps: Partial<Pick<GatewayDeps, "token" | "ffmpeg" | "analyse" | "random">> = {},
): Promise<TestGateway> {
  const config: Config = configSchema.parse({ engines, gateway });
  const built = new Map<string, Engine>(
    config.engines.map((e) => [e.name, createEngine(e, { defaultTimeoutSeconds: 10, env: {} })]),
  );
  const registry = new MetricsRegistry();
  const recorder = new SynthesisRecorder(registry, {
    cacheWindowSeconds: 300,
    maxEngines: 50,
    maxVoices: 200,
    knownEngines: [...built.keys()],
  });
  const logs: string[] = [];
  const log = new Logger({ json: true, sink: { write: (l) => logs.push(l) } });
  const gw = createGateway({
    config: config.gateway,
    engines: () => built,
    registry,
    log,
    record: (e) => recorder.record(e, "gateway"),
    recordChunkGaps: (labels, gaps) => recorder.recordChunkGaps(labels, "gateway", gaps),
    ...deps,
  });
  const server: Server = await listenGateway(gw, "127.0.0.1:0");
  return {
    url: `http://${boundAddress(server)}`,
    gateway: gw,
    registry,
    logs,
    close: async () => {
      await closeServer(server);
      await gw.close();
      for (const e of built.values()) await e.close?.();
    },
  };
}

/** POST /v1/audio/speech the way the OpenAI SDK does (JSON body, bearer token). */
export async function speech(
  url: string,
  body: Record<string, unknown>,
  options: { token?: string; signal?: AbortSignal } = {},
): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(`${url}/v1/audio/speech`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Authorization: `Bearer ${options.token ?? "sk-unused"}`,
    },
    body: JSON.stringify(body),
    ...(options.signal && { signal: options.signal }),
  });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** The value of one sample of the registry's exposition, 0 when absent. */
export async function sample(registry: MetricsRegistry, name: string, labels: Record<string, string> = {}) {
  const text = (await registry.render(false)).body;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}
