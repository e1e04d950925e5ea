/** How an engine's audio bytes are encoded. WAV carries its own format; raw PCM needs it stated. */
export type AudioFormat =
  | { readonly kind: "wav" }
  | {
      readonly kind: "pcm";
      readonly sampleRate: number;
      readonly channels: number;
      readonly encoding: "s16le" | "s24le" | "s32le" | "f32le" | "u8";
    };

/** Decoded audio: mono samples, nominally in [-1, 1] (float sources may exceed it, clamped to ±1e6). */
export interface DecodedAudio {
  readonly samples: Float32Array;
  readonly sampleRate: number;
  /** Channels in the source before down-mixing to mono. */
  readonly channels: number;
  readonly durationSeconds: number;
}
