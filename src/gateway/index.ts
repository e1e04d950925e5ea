import type { Server } from "node:http";
import { type ListenOptions, listen } from "../server/listen.ts";
import { Gateway, type GatewayDeps } from "./gateway.ts";

// The gateway's one entry module: the rest of the house calls createGateway and listenGateway.

export type { GatewayControls, LimitSettings, TraceEntry } from "./contract.ts";
export type { GatewayDeps } from "./gateway.ts";
export { Gateway } from "./gateway.ts";

export function createGateway(deps: GatewayDeps): Gateway {
  return new Gateway(deps);
}

/**
 * Binds the gateway's HTTP server (gateway.listen_address, default 0.0.0.0:9095). The one place the
 * gateway's server is made; `options.web` is the exporter toolkit's web config (TLS, basic auth) that
 * every server of the exporter shares.
 */
export function listenGateway(
  gateway: Gateway,
  address: string,
  options: ListenOptions = {},
): Promise<Server> {
  return listen(gateway.handler, address, "gateway", options);
}
