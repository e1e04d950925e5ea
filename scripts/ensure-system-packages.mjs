#!/usr/bin/env node
// pretest: the tests use real binaries (Prometheus, promtool, amtool, TTS engines, a recogniser,
// Chromium). On Debian/Ubuntu as root, install what is missing; elsewhere, list it and stop.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

/** Debian package → a file it installs that the tests use. */
export const SYSTEM_PACKAGES = {
  prometheus: "/usr/bin/promtool",
  "prometheus-alertmanager": "/usr/bin/amtool",
  "prometheus-node-exporter": "/usr/bin/prometheus-node-exporter",
  "docker-compose": "/usr/bin/docker-compose",
  "espeak-ng": "/usr/bin/espeak-ng",
  flite: "/usr/bin/flite",
  festival: "/usr/bin/text2wave",
  // festival speaks nothing without a voice.
  "festvox-kallpc16k": "/usr/share/festival/voices/english/kal_diphone",
  // Debian 12 ships pocketsphinx 0.8 (pocketsphinx_continuous), not the 5.x CLI.
  pocketsphinx: "/usr/bin/pocketsphinx_continuous",
  "pocketsphinx-en-us": "/usr/share/pocketsphinx/model/en-us/en-us/mdef",
  chromium: "/usr/bin/chromium",
  sox: "/usr/bin/sox",
  bsdutils: "/usr/bin/script",
  // The Helm test unpacks helm from an npm package's zip; the TLS tests make throwaway certificates.
  unzip: "/usr/bin/unzip",
  openssl: "/usr/bin/openssl",
  // `ss`: the terminal-mode CLI tests wait until the exporter listens.
  iproute2: "/usr/bin/ss",
  // The gateway encodes mp3, opus, aac and flac with it (tests/integration/gateway.test.ts).
  ffmpeg: "/usr/bin/ffmpeg",
};

const missing = Object.entries(SYSTEM_PACKAGES)
  .filter(([, file]) => !existsSync(file))
  .map(([pkg]) => pkg);
if (missing.length === 0) process.exit(0);

const osRelease = existsSync("/etc/os-release") ? readFileSync("/etc/os-release", "utf8") : "";
const debianLike = /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(osRelease);
const root = typeof process.getuid === "function" && process.getuid() === 0;
if (!debianLike || !root) {
  console.error(
    `The tests need these system packages (Debian/Ubuntu names): ${missing.join(" ")}\n` +
      `Install them (e.g. sudo apt-get install -y --no-install-recommends ${missing.join(" ")}), then run npm test again.`,
  );
  process.exit(1);
}
console.log(`installing system packages for the tests: ${missing.join(" ")}`);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
const r = spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], {
  stdio: "inherit",
  env,
});
if (r.status !== 0) process.exit(r.status ?? 1);
