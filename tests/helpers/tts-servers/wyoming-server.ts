import net from "node:net";
import { encodeWyomingEvent, WyomingDecoder, type WyomingEvent } from "../../../src/engines/wyoming.ts";
import { atTime } from "./clock.ts";
import { fliteWav, wavToPcm } from "./real-audio.ts";

export interface WyomingBehaviour {
  /** Milliseconds between the request (synthesize / synthesize-stop) and audio-start. */
  delayMs?: number;
  /** audio-start and the first audio-chunk after `firstMs`, the remaining chunks and audio-stop `restMs` later. */
  stream?: { firstMs: number; restMs: number };
  /** Answer an `error` event instead of audio. */
  error?: { text: string; code?: string };
  /**
   * Break the protocol: after audio-start a garbage line, a bad JSON data block, a close
   * mid-payload or before audio-stop; or an audio-chunk without audio-start nor a format.
   */
  broken?:
    | "garbage-header"
    | "bad-data-json"
    | "close-mid-payload"
    | "close-before-stop"
    | "chunk-before-start";
  /** Never answer. */
  hang?: boolean;
  /** Older servers put `data` inline in the header line instead of a data block. */
  inlineData?: boolean;
  /** What `describe` says about streaming synthesis. */
  supportsStreaming?: boolean;
  /** A server that sends no audio-start: the chunks carry the format (Home Assistant reads it so). */
  noAudioStart?: boolean;
  /** Sends an event of a type the client does not know before the audio (a newer server's extra). */
  unknownEvent?: boolean;
  /** Streaming synthesis: sentence i's audio starts i × sentenceMs after synthesize-stop (its synthesis time). */
  sentenceMs?: number;
}

export interface WyomingTestServer {
  readonly url: string;
  readonly port: number;
  /** Events received from clients, per connection. */
  readonly connections: WyomingEvent[][];
  behaviour: WyomingBehaviour;
  close(): Promise<void>;
}

const SAMPLES_PER_CHUNK = 1024;

/**
 * A Wyoming TTS server (127.0.0.1, port 0) following rhasspy/wyoming's framing and
 * rhasspy/wyoming-piper's handler: describe → info; synthesize → audio-start, audio-chunk (PCM
 * payload), audio-stop (only audio-stop for a text with nothing to say);
 * synthesize-start/-chunk/-stop → one audio group per sentence → synthesize-stopped. Audio is real
 * speech from Debian's flite.
 */
export async function startWyomingServer(): Promise<WyomingTestServer> {
  const sockets = new Set<net.Socket>();
  const state = { connections: [] as WyomingEvent[][], behaviour: {} as WyomingBehaviour };

  const send = (socket: net.Socket, type: string, data: Record<string, unknown> = {}, payload?: Buffer) => {
    if (socket.destroyed) return;
    if (state.behaviour.inlineData) {
      const header: Record<string, unknown> = { type, data };
      if (payload) header.payload_length = payload.length;
      socket.write(Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), payload ?? Buffer.alloc(0)]));
    } else {
      socket.write(encodeWyomingEvent(type, data, payload));
    }
  };

  /** Sends one audio group for `text`; resolves when audio-stop is written. */
  const speak = (socket: net.Socket, text: string, arrivedAt: number) =>
    new Promise<void>((resolve) => {
      const b = state.behaviour;
      const wav = fliteWav(text.trim() || "."); // made before the delay: the delay is the only wait injected
      const { pcm, rate, width, channels } = wavToPcm(wav);
      const fmt = { rate, width, channels };
      const chunkBytes = SAMPLES_PER_CHUNK * width * channels;
      const chunks: Buffer[] = [];
      for (let i = 0; i < pcm.length; i += chunkBytes) chunks.push(pcm.subarray(i, i + chunkBytes));
      const at = (ms: number, fn: () => void) => atTime(arrivedAt + ms, fn);
      at(b.stream?.firstMs ?? b.delayMs ?? 0, () => {
        if (b.error) {
          send(socket, "error", { text: b.error.text, ...(b.error.code ? { code: b.error.code } : {}) });
          resolve();
          return;
        }
        if (b.broken === "chunk-before-start") {
          send(socket, "audio-chunk", {}, chunks[0]);
          resolve();
          return;
        }
        if (b.unknownEvent) send(socket, "synthesize-progress", { sentence: 1 });
        if (!text.trim()) {
          // wyoming-piper: no sentence to say, so no audio-start and no chunk, only audio-stop
          send(socket, "audio-stop");
          resolve();
          return;
        }
        if (!b.noAudioStart) send(socket, "audio-start", fmt);
        if (b.broken === "garbage-header") {
          socket.write("this is not json\n");
          resolve();
          return;
        }
        if (b.broken === "bad-data-json") {
          socket.write(
            `${JSON.stringify({ type: "audio-chunk", data_length: 5, payload_length: 0 })}\n{oops`,
          );
          resolve();
          return;
        }
        if (b.broken === "close-mid-payload") {
          const first = chunks[0] ?? Buffer.alloc(0);
          const whole = encodeWyomingEvent("audio-chunk", fmt, first);
          socket.end(whole.subarray(0, whole.length - Math.floor(first.length / 2)));
          resolve();
          return;
        }
        const [head, ...rest] = chunks;
        if (head) send(socket, "audio-chunk", fmt, head);
        const finish = () => {
          for (const c of rest) send(socket, "audio-chunk", fmt, c);
          if (b.broken === "close-before-stop") socket.end();
          else send(socket, "audio-stop");
          resolve();
        };
        if (b.stream) at(b.stream.firstMs + b.stream.restMs, finish);
        else finish();
      });
    });

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const received: WyomingEvent[] = [];
    state.connections.push(received);
    const decoder = new WyomingDecoder();
    let streamText: string[] | undefined;
    socket.on("data", (chunk: Buffer) => {
      const arrivedAt = performance.now();
      let events: WyomingEvent[];
      try {
        events = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const event of events) {
        received.push(event);
        if (state.behaviour.hang) continue;
        if (event.type === "describe") {
          send(socket, "info", {
            tts: [
              {
                name: "flite",
                description: "flite test server",
                attribution: { name: "CMU", url: "http://www.festvox.org/flite/" },
                installed: true,
                version: "2.2",
                voices: [
                  {
                    name: "slt",
                    languages: ["en_US"],
                    installed: true,
                    attribution: { name: "CMU", url: "" },
                  },
                ],
                supports_synthesize_streaming: state.behaviour.supportsStreaming === true,
              },
            ],
          });
        } else if (event.type === "synthesize-start") {
          streamText = [];
        } else if (event.type === "synthesize-chunk" && streamText) {
          streamText.push(String(event.data.text ?? ""));
        } else if (event.type === "synthesize") {
          // Inside a stream, `synthesize` is the compatibility copy of the whole text: ignored.
          if (!streamText) void speak(socket, String(event.data.text ?? ""), arrivedAt);
        } else if (event.type === "synthesize-stop" && streamText) {
          const sentences = streamText.join("").match(/[^.!?]+[.!?]*/g) ?? [];
          streamText = undefined;
          void (async () => {
            let i = 0;
            for (const s of sentences)
              if (s.trim())
                await speak(socket, s.trim(), arrivedAt + i++ * (state.behaviour.sentenceMs ?? 0));
            send(socket, "synthesize-stopped");
          })();
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return Object.assign(state, {
    url: `tcp://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}
