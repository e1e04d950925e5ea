import { spawn } from "node:child_process";
import { clip } from "../log.ts";

export interface RunOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Bytes of stdout kept at most; beyond it the process is killed and the run fails. */
  readonly maxBuffer?: number;
  readonly input?: string | Buffer;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Called with each stdout chunk as it arrives (first-byte timing for command engines). */
  readonly onStdout?: (chunk: Buffer) => void;
}

export interface RunResult {
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export type RunFailureKind = "not_found" | "timeout" | "aborted" | "exit" | "too_large" | "spawn";

export class RunError extends Error {
  override readonly name = "RunError";
  constructor(
    message: string,
    readonly kind: RunFailureKind,
    readonly file: string,
    readonly result?: RunResult,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Runs a program without a shell. On timeout or abort the whole process group is killed with
 * SIGKILL, and the promise settles on the child's exit rather than on its pipes closing, so a
 * grandchild that inherited stdout (a shell script's `sleep`) cannot keep the caller waiting.
 */
export function runCommand(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const maxBuffer = options.maxBuffer ?? 64 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new RunError(`${file}: aborted before start`, "aborted", file));
      return;
    }
    const child = spawn(file, args, {
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = "";
    let settled = false;
    let failure: RunError | undefined;

    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
    };
    const fail = (e: RunError) => {
      if (failure) return;
      failure = e;
      killGroup();
    };
    const timer = setTimeout(
      () => fail(new RunError(`${file}: no answer within ${options.timeoutMs} ms`, "timeout", file)),
      options.timeoutMs,
    );
    const onAbort = () => fail(new RunError(`${file}: aborted`, "aborted", file));
    options.signal?.addEventListener("abort", onAbort, { once: true });

    const finish = (result: RunResult | undefined, error?: RunError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      child.stdout.destroy();
      child.stderr.destroy();
      if (error) reject(error);
      else if (result) resolve(result);
    };

    child.stdout.on("data", (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxBuffer) {
        fail(new RunError(`${file}: output larger than ${maxBuffer} bytes`, "too_large", file));
        return;
      }
      out.push(chunk);
      options.onStdout?.(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      if (err.length < 8192) err += chunk.toString("utf8");
    });
    child.stdin.on("error", () => {
      // The program may exit without reading its input; that is its business, not an error here.
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      const kind: RunFailureKind = e.code === "ENOENT" ? "not_found" : "spawn";
      finish(
        undefined,
        new RunError(`${file}: ${e.code === "ENOENT" ? "not found" : e.message}`, kind, file, undefined, {
          cause: e,
        }),
      );
    });
    let stdoutEnded = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const complete = () => {
      if (!exited) return;
      const { code, signal } = exited;
      const result: RunResult = { stdout: Buffer.concat(out), stderr: err.trim(), code, signal };
      if (failure) {
        finish(undefined, new RunError(failure.message, failure.kind, file, result));
      } else if (code !== 0) {
        const detail = signal ? `killed by ${signal}` : `exit code ${code}`;
        finish(
          undefined,
          new RunError(
            `${file}: ${detail}${result.stderr ? `: ${clip(result.stderr, 300)}` : ""}`,
            "exit",
            file,
            result,
          ),
        );
      } else {
        finish(result);
      }
    };
    child.stdout.on("end", () => {
      stdoutEnded = true;
      complete();
    });
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      // Normally stdout ends right after exit; a grandchild holding the pipe must not keep us waiting.
      if (stdoutEnded || failure) setImmediate(complete);
      else setTimeout(complete, 250).unref();
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}
