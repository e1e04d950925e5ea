// The interface a predicted-MOS model implements. A second model (UTMOS, NISQA, ...) is one more
// file implementing MosModel plus one row in MOS_MODELS (models.ts).

/** One ONNX session as the worker wraps it: one float32 input, the first output's values. */
export interface MosSession {
  run(inputName: string, data: Float32Array, dims: readonly number[]): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface MosModelScore {
  /** Per dimension (the `dimension` label), on the model's own scale (1-5 for P.835). */
  values: Record<string, number>;
  /** Windows scored, after the per-clip cap. */
  windows: number;
  /** Windows the reference procedure would have scored. */
  windowsAvailable: number;
}

export interface MosModel {
  /** The `model` label value. */
  readonly name: string;
  /** ONNX file, relative to the repository's models/ folder. */
  readonly file: string;
  /** Rate the model expects; the worker resamples to it. */
  readonly sampleRate: number;
  readonly dimensions: readonly string[];
  /** Scores mono samples at `sampleRate`, using at most `maxWindows` model runs. */
  score(samples: Float32Array, session: MosSession, maxWindows: number): Promise<MosModelScore>;
}
