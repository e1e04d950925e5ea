import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";

/** Why a file the config names cannot be read, in words ("a FIFO (named pipe), not a regular file"). */
export class FileReadError extends Error {
  override readonly name = "FileReadError";
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "a directory",
  ENOTDIR: "a path through something that is not a directory",
  ELOOP: "a symbolic link loop",
};

function kind(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * The bytes of a regular file of at most `maxBytes`. Anything else is refused before a byte is
 * read, so that a FIFO, /dev/zero, /dev/urandom or a directory neither hangs nor fills the memory:
 * the file is opened with O_NONBLOCK (a FIFO without a writer would block the open) and fstat'ed.
 * Throws FileReadError saying why, with the system error as cause.
 */
export function readRegularFile(path: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unknown error";
    const what = READ_ERRORS[code];
    throw new FileReadError(what ? `${what} (${code})` : code, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileReadError(`${kind(st)}, not a regular file`);
    if (st.size > maxBytes) throw new FileReadError(`${st.size} bytes, more than the limit of ${maxBytes}`);
    // Read to the end, but never past the limit (the file may grow while it is read).
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) throw new FileReadError(`more than the limit of ${maxBytes} bytes`);
    }
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? "unknown error";
    throw new FileReadError(READ_ERRORS[code] ? `${READ_ERRORS[code]} (${code})` : code, { cause: err });
  } finally {
    closeSync(fd);
  }
}
