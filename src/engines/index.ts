import type { EngineConfig, EngineType } from "../config/schema.ts";
import { createCommandEngine } from "./command.ts";
import type { EngineConfigOf, EngineContext } from "./context.ts";
import { createCoquiEngine } from "./coqui.ts";
import { createEmbeddedEngine } from "./embedded.ts";
import { createMaryTtsEngine } from "./marytts.ts";
import { createOpenAiEngine } from "./openai.ts";
import { createPiperEngine } from "./piper.ts";
import { createRivaEngine } from "./riva.ts";
import { createTritonEngine } from "./triton.ts";
import type { Engine } from "./types.ts";
import { createWyomingEngine } from "./wyoming.ts";

export type { EngineConfigOf, EngineContext } from "./context.ts";
export { EMBEDDED_DEFAULT_VOICE, EMBEDDED_VOICES } from "./embedded.ts";

/** One factory per protocol. A type missing here fails the type check, not silently at run time. */
export const engineTable: {
  readonly [T in EngineType]: (config: EngineConfigOf<T>, context: EngineContext) => Engine;
} = {
  embedded: createEmbeddedEngine,
  command: createCommandEngine,
  openai: createOpenAiEngine,
  coqui: createCoquiEngine,
  piper: createPiperEngine,
  marytts: createMaryTtsEngine,
  wyoming: createWyomingEngine,
  triton: createTritonEngine,
  riva: createRivaEngine,
};

/**
 * Builds the engine for one config entry. Throws a plain Error only for a config that cannot work
 * (an unknown embedded voice, an empty command); everything else fails per synthesis as an EngineError.
 */
export function createEngine(config: EngineConfig, context: EngineContext): Engine {
  const factory = engineTable[config.type] as (config: EngineConfig, context: EngineContext) => Engine;
  return factory(config, context);
}
