// V8's JSON.parse does not say where some mistakes are ("Unexpected token ']', "[1,2,]" is not valid
// JSON" has no position), so a config error could not name the line and column. This scanner finds
// the offset of the first character that makes the text invalid JSON (RFC 8259).

class Stop {
  constructor(readonly at: number) {}
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** Offset of the first invalid character (text.length when the text ends too early); undefined for valid JSON. */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new Stop(i);
  };
  const ws = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r"))
      i++;
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c === 0x5c) {
        const next = text[i + 1];
        if (next !== undefined && '"\\/bfnrt'.includes(next)) i += 2;
        else if (next === "u" && HEX4.test(text.slice(i + 2, i + 6))) i += 6;
        else {
          i++;
          fail();
        }
        continue;
      }
      if (c < 0x20) fail();
      i++;
    }
  };
  const value = (depth: number): void => {
    if (depth > 512) fail();
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ":") fail();
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return;
        }
        fail();
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return;
        }
        fail();
      }
    }
    if (c === '"') return string();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
      NUMBER.lastIndex = i;
      if (!NUMBER.test(text)) fail();
      i = NUMBER.lastIndex;
      return;
    }
    for (const literal of ["true", "false", "null"]) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    // A misspelt or cut literal ("tru"): point at its first character that differs.
    for (const literal of ["true", "false", "null"]) {
      if (c === literal[0]) {
        let k = 0;
        while (k < literal.length && text[i + k] === literal[k]) k++;
        i += k;
        break;
      }
    }
    fail();
  };
  try {
    value(0);
    ws();
    return i < text.length ? i : undefined;
  } catch (err) {
    if (err instanceof Stop) return err.at;
    throw err;
  }
}
