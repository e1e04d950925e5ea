import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  type RivaSynthesizeRequest,
  type RivaSynthesizeResponse,
  rivaPackage,
} from "../../../src/engines/riva.ts";
import { atTime } from "./clock.ts";
import { fliteWav, requireBinary, wavToPcm } from "./real-audio.ts";

// A Riva TTS server from the vendored protos (proto/riva/, nvidia-riva/common):
// `RivaSpeechSynthesis.Synthesize` answers one SynthesizeSpeechResponse with all the audio,
// `SynthesizeOnline` streams it in pieces. LINEAR_PCM at the asked sample_rate_hz (flite's speech,
// resampled by sox as Riva resamples its model's output), voices it knows, errors as gRPC statuses.

export interface RivaBehaviour {
  delayMs?: number;
  /** SynthesizeOnline: first piece after `firstMs`, the others `restMs` after that. */
  stream?: { firstMs: number; restMs: number };
  /** Audio pieces of a SynthesizeOnline answer (default 4). */
  pieces?: number;
  /** Fails the call with this status and details. */
  status?: { code: grpc.status; details: string };
  audio?: "empty" | "odd-bytes";
  hang?: boolean;
}

export interface RivaTestServer {
  /** host:port */
  readonly address: string;
  readonly requests: Array<{
    rpc: string;
    request: RivaSynthesizeRequest;
    metadata: Record<string, unknown>;
  }>;
  behaviour: RivaBehaviour;
  /** Calls without `authorization: Bearer <token>` are refused UNAUTHENTICATED. */
  token?: string;
  close(): Promise<void>;
}

export const RIVA_VOICES = ["English-US.Female-1", "English-US.Male-1"];

const resampled = new Map<string, Buffer>();
function speech(text: string, rate: number): Buffer {
  const key = `${rate}\u0000${text}`;
  const hit = resampled.get(key);
  if (hit) return hit;
  const wav = fliteWav(text);
  let pcm = wavToPcm(wav).pcm;
  if (wavToPcm(wav).rate !== rate) {
    requireBinary("sox", "sox");
    const dir = mkdtempSync(join(tmpdir(), "riva-test-"));
    try {
      writeFileSync(join(dir, "in.wav"), wav);
      execFileSync("sox", [
        join(dir, "in.wav"),
        "-r",
        String(rate),
        "-b",
        "16",
        "-e",
        "signed",
        "-t",
        "raw",
        join(dir, "out.raw"),
      ]);
      pcm = readFileSync(join(dir, "out.raw"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  resampled.set(key, pcm);
  return pcm;
}

export async function startRivaServer(tls?: { key: Buffer; cert: Buffer }): Promise<RivaTestServer> {
  const server = new grpc.Server();
  const state: Omit<RivaTestServer, "address" | "close"> = { requests: [], behaviour: {} };
  const service = (
    (((await rivaPackage()).nvidia as grpc.GrpcObject).riva as grpc.GrpcObject).tts as grpc.GrpcObject
  ).RivaSpeechSynthesis as grpc.ServiceClientConstructor;

  /** The gRPC status this request is refused with, or the audio to answer. */
  const answer = (rpc: string, request: RivaSynthesizeRequest, metadata: grpc.Metadata) => {
    state.requests.push({ rpc, request, metadata: metadata.getMap() });
    if (state.token !== undefined && metadata.get("authorization")[0] !== `Bearer ${state.token}`)
      return { code: grpc.status.UNAUTHENTICATED, details: "missing or invalid API key" };
    if (state.behaviour.status) return state.behaviour.status;
    if (request.encoding !== 1)
      return { code: grpc.status.INVALID_ARGUMENT, details: "Unsupported encoding" };
    if (request.voice_name !== "" && !RIVA_VOICES.includes(request.voice_name))
      return {
        code: grpc.status.INVALID_ARGUMENT,
        details: `Model for voice ${request.voice_name} is not available`,
      };
    if (request.text.trim() === "") return { code: grpc.status.INVALID_ARGUMENT, details: "Empty text" };
    let audio = speech(request.text, request.sample_rate_hz || 22050);
    if (state.behaviour.audio === "empty") audio = Buffer.alloc(0);
    if (state.behaviour.audio === "odd-bytes") audio = audio.subarray(0, audio.length - 1);
    return { audio };
  };

  server.addService(service.service, {
    Synthesize(
      call: grpc.ServerUnaryCall<RivaSynthesizeRequest, RivaSynthesizeResponse>,
      callback: grpc.sendUnaryData<RivaSynthesizeResponse>,
    ) {
      const arrivedAt = performance.now();
      const a = answer("Synthesize", call.request, call.metadata);
      if (state.behaviour.hang) return;
      atTime(arrivedAt + (state.behaviour.delayMs ?? 0), () => {
        if ("code" in a) callback({ code: a.code, details: a.details });
        else callback(null, { audio: a.audio });
      });
    },
    SynthesizeOnline(call: grpc.ServerDuplexStream<RivaSynthesizeRequest, RivaSynthesizeResponse>) {
      call.once("data", (request: RivaSynthesizeRequest) => {
        const arrivedAt = performance.now();
        const a = answer("SynthesizeOnline", request, call.metadata);
        if (state.behaviour.hang) return;
        const b = state.behaviour;
        const at = (ms: number, fn: () => void) => atTime(arrivedAt + ms, fn);
        if ("code" in a) {
          at(b.delayMs ?? 0, () => call.emit("error", { code: a.code, details: a.details }));
          return;
        }
        const n = Math.max(1, b.pieces ?? 4);
        // Whole samples per piece, as Riva streams them.
        const size = Math.ceil(a.audio.length / n / 2) * 2;
        const pieces = Array.from({ length: n }, (_, i) => a.audio.subarray(i * size, (i + 1) * size)).filter(
          (p, i) => p.length > 0 || i === 0,
        );
        const first = b.stream?.firstMs ?? b.delayMs ?? 0;
        at(first, () => {
          call.write({ audio: pieces[0] ?? Buffer.alloc(0) });
          const rest = () => {
            for (const p of pieces.slice(1)) call.write({ audio: p });
            call.end();
          };
          if (b.stream) at(b.stream.firstMs + b.stream.restMs, rest);
          else rest();
        });
      });
    },
    GetRivaSynthesisConfig(
      _call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      callback(null, { model_config: RIVA_VOICES.map((v) => ({ model_name: v, parameters: {} })) });
    },
  });
  const credentials = tls
    ? grpc.ServerCredentials.createSsl(null, [{ private_key: tls.key, cert_chain: tls.cert }])
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", credentials, (error, p) => (error ? reject(error) : resolve(p))),
  );
  return Object.assign(state, {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  });
}

/** A self-signed certificate for "localhost" (openssl), for the TLS case. */
export function selfSignedCert(): { key: Buffer; cert: Buffer; certFile: string; dispose(): void } {
  requireBinary("openssl", "openssl");
  const dir = mkdtempSync(join(tmpdir(), "riva-tls-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  return {
    key: readFileSync(join(dir, "key.pem")),
    cert: readFileSync(join(dir, "cert.pem")),
    certFile: join(dir, "cert.pem"),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
