import http from "node:http";
import { atTime } from "./clock.ts";
import { listenLocal } from "./listen-local.ts";
import { fliteWav, wavToPcm } from "./real-audio.ts";

// A KServe v2 / Open Inference Protocol server as Triton answers it, written from the protocol's
// REST spec (kserve/open-inference-protocol, "HTTP/REST") and Triton's binary tensor extension:
// `POST /v2/models/{model}[/versions/{v}]/infer` with `{inputs:[{name,shape,datatype,data}],
// outputs:[{name,parameters:{binary_data}}]}`; the answer `{model_name, model_version, outputs:
// [{name, datatype, shape, data}]}`, or with binary_data the JSON header (its length in
// Inference-Header-Content-Length) followed by the tensor's raw little-endian bytes; errors as
// `{"error": "<message>"}` with a 4xx/5xx status. The model is a TTS model with a BYTES text
// input and a waveform output, serving flite's real speech.

export interface KServeModel {
  readonly name: string;
  readonly version: string;
  readonly textInput: string;
  readonly voiceInput?: string;
  readonly output: string;
  readonly datatype: "FP32" | "INT16";
}

export interface KServeBehaviour {
  delayMs?: number;
  fault?: "http-500" | "no-output" | "not-json" | "shape-mismatch" | "string-values" | "cut-binary";
}

export interface KServeServer {
  readonly url: string;
  readonly requests: Array<{ path: string; body: unknown; headers: http.IncomingHttpHeaders }>;
  model: KServeModel;
  behaviour: KServeBehaviour;
  close(): Promise<void>;
}

const error = (res: http.ServerResponse, status: number, message: string) =>
  res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify({ error: message }));

export async function startKServeServer(model: KServeModel): Promise<KServeServer> {
  const state: Omit<KServeServer, "url" | "close"> = { requests: [], model, behaviour: {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const arrivedAt = performance.now();
      const m = state.model;
      const b = state.behaviour;
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const route = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/.exec(path);
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return error(res, 400, "failed to parse the request JSON buffer");
      }
      state.requests.push({ path, body, headers: req.headers });
      if (req.method !== "POST" || !route) return error(res, 404, "Not Found");
      const name = decodeURIComponent(route[1] ?? "");
      if (name !== m.name || (route[2] !== undefined && decodeURIComponent(route[2]) !== m.version))
        return error(res, 404, `Request for unknown model: '${name}' is not found`);
      const r = body as {
        inputs?: Array<{ name?: string; datatype?: string; shape?: number[]; data?: unknown[] }>;
        outputs?: Array<{ name?: string; parameters?: { binary_data?: boolean } }>;
      };
      const text = r.inputs?.find((i) => i.name === m.textInput);
      for (const i of r.inputs ?? []) {
        if (i.name !== m.textInput && i.name !== m.voiceInput)
          return error(res, 400, `unexpected inference input '${i.name}' for model '${m.name}'`);
        if (i.datatype !== "BYTES")
          return error(
            res,
            400,
            `inference input '${i.name}' data-type is '${i.datatype}', but model '${m.name}' expects 'BYTES'`,
          );
      }
      if (!text || typeof text.data?.[0] !== "string")
        return error(
          res,
          400,
          `expected 1 inputs but got ${r.inputs?.length ?? 0} inputs for model '${m.name}'`,
        );
      const asked = r.outputs?.find((o) => o.name === m.output);
      if (r.outputs && !asked)
        return error(res, 400, `unexpected inference output '${r.outputs[0]?.name}' for model '${m.name}'`);
      const binary = asked?.parameters?.binary_data === true;
      const { pcm } = wavToPcm(fliteWav(text.data[0] as string));
      const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
      const raw =
        m.datatype === "INT16"
          ? Buffer.from(pcm)
          : Buffer.from(Float32Array.from(samples, (s) => s / 32768).buffer);
      atTime(arrivedAt + (b.delayMs ?? 0), () => {
        if (b.fault === "http-500") return error(res, 500, "onnx runtime error 6: CUDA out of memory");
        if (b.fault === "not-json")
          return void res.writeHead(200, { "Content-Type": "text/plain" }).end("upstream connect error");
        const output = {
          name: b.fault === "no-output" ? "LENGTH" : m.output,
          datatype: m.datatype,
          shape: [1, samples.length + (b.fault === "shape-mismatch" ? 1 : 0)],
        };
        const head = { model_name: m.name, model_version: m.version };
        if (binary) {
          const json = Buffer.from(
            JSON.stringify({
              ...head,
              outputs: [{ ...output, parameters: { binary_data_size: raw.length } }],
            }),
          );
          const tail = b.fault === "cut-binary" ? raw.subarray(0, raw.length >> 1) : raw;
          res.writeHead(200, {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": String(json.length),
          });
          res.end(Buffer.concat([json, tail]));
          return;
        }
        const data: unknown[] =
          m.datatype === "INT16"
            ? Array.from(samples)
            : Array.from(new Float32Array(raw.buffer, raw.byteOffset, samples.length));
        if (b.fault === "string-values") data[10] = "nan";
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ ...head, outputs: [{ ...output, data }] }));
      });
    });
  });
  return Object.assign(state, {
    ...(await listenLocal(server)),
  });
}
