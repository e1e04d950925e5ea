import { join } from "node:path";

/**
 * Where the host's filesystem is seen from the exporter: "/" when it runs on the host, "/host" (say)
 * when it runs in a container with the host's `/` bind-mounted there (node_exporter's
 * `--path.rootfs`). `monitoring.host_root`, or the environment variable TTS_MONITOR_HOST_ROOT.
 */
export const DEFAULT_HOST_ROOT = "/";

/** A host path (`/proc/stat`, a mount point, a pid file) as the exporter reaches it under `root`. */
export function hostPath(root: string, path: string): string {
  if (root === DEFAULT_HOST_ROOT) return path;
  return path === "/" ? root : join(root, path);
}
