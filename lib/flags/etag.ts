import { createHash } from "node:crypto";

/**
 * A strong entity tag of a JSON body: a hash of exactly the bytes sent. It changes when (and
 * only when) the caller's answer changes, so a flag change that does not affect a user does not
 * make their client download anything.
 */
export function etagOf(body: unknown): string {
  return `"${createHash("sha256").update(JSON.stringify(body)).digest("base64url").slice(0, 27)}"`;
}

/**
 * True when an `If-None-Match` header names the tag (RFC 9110 weak comparison: a `W/` prefix is
 * ignored), lists it among others, or is `*`.
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((raw) => {
    const tag = raw.trim();
    return tag === "*" || (tag.startsWith("W/") ? tag.slice(2) : tag) === etag;
  });
}
