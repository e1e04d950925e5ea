// Triton Inference Server and other KServe v2 servers ("Open Inference Protocol", HTTP/REST):
// `POST /v2/models/{model}[/versions/{version}]/infer` with JSON tensors, the text as a BYTES
// tensor in, the waveform as a numeric tensor out. Tensor names, datatypes and the sample rate are
// the model's own (CosyVoice, F5-TTS and Spark-TTS runtimes each name them differently), so they
// come from the config. With `binary_output` the audio comes back in Triton's binary tensor
// extension: the JSON header (Inference-Header-Content-Length bytes) and then the raw tensor.

import type http from "node:http";
import { type EngineConfigOf, type EngineContext, engineTimeoutMs } from "./context.ts";
import { excerpt, throwIfAborted, withDeadline } from "./errors.ts";
import type { PcmFormat } from "./http.ts";
import { authHeaders, type BodyDecoder, fetchAudio } from "./http.ts";
import { type Engine, EngineError, type SynthesisRequest, type SynthesisResult } from "./types.ts";

export type TritonAudioType = "FP32" | "INT16" | "INT32";

const ENCODING: Record<TritonAudioType, PcmFormat["encoding"]> = {
  FP32: "f32le",
  INT16: "s16le",
  INT32: "s32le",
};
const BYTES: Record<TritonAudioType, number> = { FP32: 4, INT16: 2, INT32: 4 };

interface OutputTensor {
  readonly name?: unknown;
  readonly datatype?: unknown;
  readonly shape?: unknown;
  readonly data?: unknown;
  readonly parameters?: { readonly binary_data_size?: unknown } | null;
}

/** The infer answer's audio tensor as little-endian samples: JSON data, or the binary tail. */
export class KServeAudio implements BodyDecoder {
  readonly done = false;
  readonly #parts: Buffer[] = [];
  readonly #headerLength: number | undefined;

  constructor(
    private readonly output: string,
    private readonly datatype: TritonAudioType,
    headers: http.IncomingHttpHeaders,
    private readonly where: string,
  ) {
    const h = headers["inference-header-content-length"];
    if (h !== undefined) {
      const n = Number(h);
      if (!Number.isInteger(n) || n < 0)
        throw new EngineError(
          `${where}: invalid Inference-Header-Content-Length ${JSON.stringify(h)}`,
          "protocol",
        );
      this.#headerLength = n;
    }
  }

  push(bytes: Uint8Array): Buffer[] {
    this.#parts.push(Buffer.from(bytes));
    return [];
  }

  finish(): Buffer[] {
    const body = Buffer.concat(this.#parts);
    const headerLength = this.#headerLength ?? body.length;
    if (headerLength > body.length)
      throw new EngineError(
        `${this.where}: Inference-Header-Content-Length ${headerLength} is past the body's ${body.length} bytes`,
        "protocol",
      );
    const json = body.subarray(0, headerLength);
    let parsed: unknown;
    try {
      parsed = JSON.parse(json.toString("utf8"));
    } catch {
      throw new EngineError(`${this.where}: infer answer is not JSON: ${excerpt(json)}`, "protocol");
    }
    const outputs = (parsed as { outputs?: unknown } | null)?.outputs;
    if (!Array.isArray(outputs))
      throw new EngineError(`${this.where}: infer answer without "outputs": ${excerpt(json)}`, "protocol");
    // Binary tensors follow the header in the order of `outputs`.
    let offset = headerLength;
    for (const o of outputs as OutputTensor[]) {
      const size = o?.parameters?.binary_data_size;
      const binary = typeof size === "number" && Number.isInteger(size) && size >= 0 ? size : undefined;
      if (o?.name !== this.output) {
        offset += binary ?? 0;
        continue;
      }
      if (o.datatype !== this.datatype)
        throw new EngineError(
          `${this.where}: output ${this.output} is ${JSON.stringify(o.datatype)}, configured ${this.datatype}`,
          "protocol",
        );
      if (binary !== undefined) {
        if (offset + binary > body.length)
          throw new EngineError(
            `${this.where}: output ${this.output}'s binary data is cut short`,
            "protocol",
          );
        return [body.subarray(offset, offset + binary)];
      }
      return [this.#fromJson(o)];
    }
    const names = (outputs as OutputTensor[]).map((o) => String(o?.name)).join(", ");
    throw new EngineError(
      `${this.where}: no output ${this.output} in the answer (got: ${names || "none"})`,
      "protocol",
    );
  }

  #fromJson(o: OutputTensor): Buffer {
    const data = o.data;
    if (!Array.isArray(data))
      throw new EngineError(`${this.where}: output ${this.output} has no "data" array`, "protocol");
    const shape = o.shape;
    if (Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0)) {
      const elements = (shape as number[]).reduce((a, b) => a * b, 1);
      if (elements !== data.length)
        throw new EngineError(
          `${this.where}: output ${this.output} has shape [${shape.join(", ")}] but ${data.length} values`,
          "protocol",
        );
    }
    const out = Buffer.alloc(data.length * BYTES[this.datatype]);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new EngineError(
          `${this.where}: output ${this.output} holds a value that is not a number`,
          "bad_audio",
        );
      if (this.datatype === "FP32") out.writeFloatLE(v, i * 4);
      else if (this.datatype === "INT16")
        out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v))), i * 2);
      else out.writeInt32LE(Math.max(-2147483648, Math.min(2147483647, Math.round(v))), i * 4);
    }
    return out;
  }
}

export function createTritonEngine(config: EngineConfigOf<"triton">, context: EngineContext): Engine {
  const timeoutMs = engineTimeoutMs(config, context);
  const base = config.url.replace(/\/+$/, "");
  const model = encodeURIComponent(config.model);
  const version =
    config.model_version === undefined ? "" : `/versions/${encodeURIComponent(config.model_version)}`;
  const url = new URL(`${base}/v2/models/${model}${version}/infer`);
  const voice = config.voice ?? "default";
  const where = `engine ${config.name} (triton ${url.origin}${url.pathname})`;
  const format: PcmFormat = {
    kind: "pcm",
    sampleRate: config.sample_rate,
    channels: 1,
    encoding: ENCODING[config.output_datatype],
  };
  return {
    name: config.name,
    type: "triton",
    voice,
    async synthesize(request: SynthesisRequest): Promise<SynthesisResult> {
      const signal = withDeadline(request.signal, timeoutMs);
      throwIfAborted(signal, where);
      const used = request.voice ?? voice;
      const bytesTensor = (name: string, value: string) => ({
        name,
        shape: config.input_shape,
        datatype: "BYTES",
        data: [value],
      });
      const body = JSON.stringify({
        inputs: [
          bytesTensor(config.input_name, request.text),
          ...(config.voice_input !== undefined ? [bytesTensor(config.voice_input, used)] : []),
        ],
        outputs: [
          {
            name: config.output_name,
            ...(config.binary_output ? { parameters: { binary_data: true } } : {}),
          },
        ],
      });
      const response = await fetchAudio({
        url,
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json, application/octet-stream",
          ...(await authHeaders(config.auth_header, context.env, where)),
        },
        body,
        signal,
        where,
        ...(request.onChunk && { onChunk: request.onChunk }),
        expect: { kind: "pcm", fallback: format },
        container: {
          decoder: (headers) => new KServeAudio(config.output_name, config.output_datatype, headers, where),
        },
      });
      return { audio: response.audio, format, timings: response.timings, voice: used };
    },
  };
}
