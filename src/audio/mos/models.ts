import { dnsmosP835 } from "./dnsmos.ts";
import type { MosModel } from "./model.ts";

/** Every predicted-MOS model, by its `model` label. */
export const MOS_MODELS = { dnsmos_p835: dnsmosP835 } as const satisfies Record<string, MosModel>;
export type MosModelName = keyof typeof MOS_MODELS;
