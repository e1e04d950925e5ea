// What audio a byte string holds when it is not the RIFF/WAV or raw PCM asked for, by its magic
// bytes: for reasons that say what a server or a client sent instead (MP3 is OpenAI's default).
// Used by the decoder (decode.ts) and by the engines' answer checks (engines/wav-header.ts).

export type Container = "MP3" | "AAC" | "Ogg" | "FLAC" | "AIFF" | "AU" | "CAF" | "WebM" | "MP4" | "AMR";

const ascii = (b: Uint8Array, at: number) =>
  String.fromCharCode(b[at] ?? 0, b[at + 1] ?? 0, b[at + 2] ?? 0, b[at + 3] ?? 0);

/** The container its leading magic bytes name (an ID3 tag, "OggS", "fLaC", ...), if any. */
export function magicContainer(bytes: Uint8Array): Container | undefined {
  const head = ascii(bytes, 0);
  if (head.startsWith("ID3")) return "MP3";
  if (head === "OggS") return "Ogg";
  if (head === "fLaC") return "FLAC";
  if (head === "FORM") return "AIFF";
  if (head === ".snd") return "AU";
  if (head === "caff") return "CAF";
  if (head === "#!AM") return "AMR";
  if (head === "\x1aE\xdf\xa3") return "WebM";
  if (bytes.length >= 8 && ascii(bytes, 4) === "ftyp") return "MP4";
  return undefined;
}

/**
 * MPEG audio or ADTS (AAC) by the frame sync word at the start. Only trust it where a container
 * was expected: raw PCM may start with any bytes (0xff 0xfb is a 16-bit sample of -1025).
 */
export function frameSyncContainer(bytes: Uint8Array): "MP3" | "AAC" | undefined {
  const b0 = bytes[0] ?? 0;
  const b1 = bytes[1] ?? 0;
  if (bytes.length < 2 || b0 !== 0xff || (b1 & 0xe0) !== 0xe0) return undefined;
  // ADTS: a 12-bit sync word and layer 00.
  return (b1 & 0xf6) === 0xf0 ? "AAC" : "MP3";
}
