import { createHash, timingSafeEqual } from "node:crypto";

/** True when an Authorization header carries exactly this bearer token (constant-time compare). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (!m?.[1]) return false;
  // Digests of equal length: the comparison's time tells nothing, not even the token's length.
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(m[1].trim()), digest(token));
}
