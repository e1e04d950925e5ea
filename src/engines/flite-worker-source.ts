/**
 * Source of the worker thread that runs Flite (WASI). It is a string, evaluated with
 * `new Worker(source, { eval: true })`, because a worker started from a .ts file would need the
 * TypeScript loader of whoever runs us (tsx, vitest, plain node with a build): a string works
 * under all of them. It has no dependency beyond Node.
 *
 * It holds a minimal in-memory WASI preview1 (the 13 imports flite.wasm uses): the output WAV is
 * written to a memory file, so nothing touches the disk and no experimental `node:wasi` warning is
 * printed. The module is compiled once per worker; each synthesis gets a fresh instance because a
 * WASI command runs `_start` once.
 *
 * Protocol: parent → { id, args } ; worker → { id, code, wav?: ArrayBuffer, stderr } | { id, error }.
 */
export const FLITE_WORKER_SOURCE = String.raw`
"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const { readFileSync } = require("node:fs");

// Below the event loop that answers scrapes (Linux: a thread id is a pid for setpriority; see
// src/util/thread-priority.ts, which this string cannot import).
try {
  const tid = Number(require("node:fs").readlinkSync("/proc/thread-self").split("/").pop());
  require("node:os").setPriority(tid, 10);
} catch {}
// Each synthesis leaves a dead instance whose linear memory (about 17 MiB) V8 frees only at a full
// collection, which its small heap rarely needs: six probes held 145 MiB. One collection after each
// synthesis keeps the worker at its compiled module plus one instance (docs/benchmarks.md).
let collect = () => {};
try {
  require("node:v8").setFlagsFromString("--expose-gc");
  collect = require("node:vm").runInNewContext("gc");
} catch {}

const module_ = new WebAssembly.Module(readFileSync(workerData.wasmPath));
const ERRNO = { SUCCESS: 0, BADF: 8, INVAL: 28, NOENT: 44, SPIPE: 70 };
const enc = new TextEncoder();
const dec = new TextDecoder();

class Exit {
  constructor(code) { this.code = code; }
}

function run(args) {
  const argv = args.map((a) => enc.encode(a + "\0"));
  const files = new Map();
  const fds = new Map([[3, { dir: "." }]]);
  let nextFd = 4;
  let memory;
  const out = [];
  const dv = () => new DataView(memory.buffer);
  const mem = () => new Uint8Array(memory.buffer);
  const wasi = {
    args_sizes_get(countPtr, sizePtr) {
      dv().setUint32(countPtr, argv.length, true);
      dv().setUint32(sizePtr, argv.reduce((n, b) => n + b.length, 0), true);
      return ERRNO.SUCCESS;
    },
    args_get(argvPtr, bufPtr) {
      let at = bufPtr;
      argv.forEach((b, i) => {
        dv().setUint32(argvPtr + 4 * i, at, true);
        mem().set(b, at);
        at += b.length;
      });
      return ERRNO.SUCCESS;
    },
    clock_time_get(_id, _precision, timePtr) {
      dv().setBigUint64(timePtr, BigInt(Math.round(performance.now() * 1e6)), true);
      return ERRNO.SUCCESS;
    },
    fd_close(fd) {
      return fds.delete(fd) ? ERRNO.SUCCESS : ERRNO.BADF;
    },
    fd_fdstat_get(fd, ptr) {
      const entry = fds.get(fd);
      // 2: character device (stdio), 3: directory, 4: regular file
      const type = fd <= 2 ? 2 : entry && entry.dir ? 3 : entry ? 4 : 0;
      if (type === 0) return ERRNO.BADF;
      const d = dv();
      d.setUint8(ptr, type);
      d.setUint16(ptr + 2, 0, true);
      d.setBigUint64(ptr + 8, 0xffffffffffffffffn, true);
      d.setBigUint64(ptr + 16, 0xffffffffffffffffn, true);
      return ERRNO.SUCCESS;
    },
    fd_fdstat_set_flags() {
      return ERRNO.SUCCESS;
    },
    fd_prestat_get(fd, ptr) {
      const entry = fds.get(fd);
      if (!entry || !entry.dir) return ERRNO.BADF;
      dv().setUint8(ptr, 0);
      dv().setUint32(ptr + 4, enc.encode(entry.dir).length, true);
      return ERRNO.SUCCESS;
    },
    fd_prestat_dir_name(fd, ptr, len) {
      const entry = fds.get(fd);
      if (!entry || !entry.dir) return ERRNO.BADF;
      mem().set(enc.encode(entry.dir).subarray(0, len), ptr);
      return ERRNO.SUCCESS;
    },
    fd_read(_fd, _iovs, _count, readPtr) {
      dv().setUint32(readPtr, 0, true);
      return ERRNO.SUCCESS;
    },
    fd_seek(fd, offset, whence, resultPtr) {
      const entry = fds.get(fd);
      if (!entry || !entry.file) return fd <= 2 ? ERRNO.SPIPE : ERRNO.BADF;
      const base = whence === 0 ? 0 : whence === 1 ? entry.pos : entry.file.size;
      const pos = base + Number(offset);
      if (pos < 0) return ERRNO.INVAL;
      entry.pos = pos;
      dv().setBigUint64(resultPtr, BigInt(pos), true);
      return ERRNO.SUCCESS;
    },
    fd_write(fd, iovs, count, writtenPtr) {
      const d = dv();
      let total = 0;
      for (let i = 0; i < count; i++) {
        const ptr = d.getUint32(iovs + 8 * i, true);
        const len = d.getUint32(iovs + 8 * i + 4, true);
        const bytes = mem().subarray(ptr, ptr + len);
        if (fd === 1 || fd === 2) {
          if (out.length < 64) out.push(dec.decode(bytes));
        } else {
          const entry = fds.get(fd);
          if (!entry || !entry.file) return ERRNO.BADF;
          const f = entry.file;
          const end = entry.pos + len;
          if (end > f.data.length) {
            const grown = new Uint8Array(Math.max(end, f.data.length * 2));
            grown.set(f.data.subarray(0, f.size));
            f.data = grown;
          }
          f.data.set(bytes, entry.pos);
          entry.pos = end;
          if (end > f.size) f.size = end;
        }
        total += len;
      }
      d.setUint32(writtenPtr, total, true);
      return ERRNO.SUCCESS;
    },
    path_open(_dirFd, _dirFlags, pathPtr, pathLen, oflags, _rightsBase, _rightsInh, _fdFlags, fdPtr) {
      const name = dec.decode(mem().slice(pathPtr, pathPtr + pathLen)).replace(/^(\.\/|\/)+/, "");
      let f = files.get(name);
      if (!f) {
        if (!(oflags & 1)) return ERRNO.NOENT;
        f = { data: new Uint8Array(256 * 1024), size: 0 };
        files.set(name, f);
      }
      if (oflags & 8) f.size = 0;
      const fd = nextFd++;
      fds.set(fd, { file: f, pos: 0 });
      dv().setUint32(fdPtr, fd, true);
      return ERRNO.SUCCESS;
    },
    proc_exit(code) {
      throw new Exit(code);
    },
  };
  const instance = new WebAssembly.Instance(module_, { wasi_snapshot_preview1: wasi });
  memory = instance.exports.memory;
  let code = 0;
  try {
    instance.exports._start();
  } catch (e) {
    if (e instanceof Exit) code = e.code;
    else throw e;
  }
  const wav = files.get("out.wav");
  return { code, wav: wav ? wav.data.slice(0, wav.size).buffer : undefined, stderr: out.join("").slice(0, 2000) };
}

parentPort.on("message", (msg) => {
  try {
    const result = run(msg.args);
    parentPort.postMessage({ id: msg.id, ...result }, result.wav ? [result.wav] : []);
  } catch (e) {
    parentPort.postMessage({ id: msg.id, error: String((e && e.stack) || e) });
  }
  collect();
});
`;
