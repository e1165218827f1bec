import { createHash } from "node:crypto";
import type { ScrubbedReport } from "#lib/error-reports/schema";
import { scrubText } from "#lib/error-reports/scrub";

/** Stack frames that take part in a computed fingerprint. */
export const FINGERPRINT_FRAMES = 3;

/** The error's type from the message or the stack's first line (`TypeError: ...`); `Error` when none. */
export function errorTypeOf(message: string, stack?: string): string {
  for (const line of [message, stack?.split("\n", 1)[0] ?? ""]) {
    const match = /^\s*(?:Uncaught\s+)?([A-Z][A-Za-z0-9_$]*(?:Error|Exception))\b/.exec(line);
    if (match?.[1]) return match[1];
  }
  return "Error";
}

/**
 * The message with what varies between occurrences of one error replaced: UUIDs and long hex
 * strings, tokens mixing letters and digits (ids), and numbers. The leading `Type:` is removed
 * (the type is a part of its own).
 */
export function normalizeMessage(message: string): string {
  return message
    .replace(/^\s*(?:Uncaught\s+)?[A-Z][A-Za-z0-9_$]*(?:Error|Exception):\s*/, "")
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<id>")
    .replace(/\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{6,}\b/g, "<id>")
    .replace(/\d+(?:\.\d+)?/g, "<n>")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * The top stack frames without what changes between builds and installs: line and column
 * numbers, the extension's install-specific origin (`moz-extension://<uuid>/`), content hashes in
 * bundle file names, and `async` markers. Chrome (`at f (file:1:2)`) and Firefox (`f@file:1:2`)
 * frames are recognised; other lines are skipped.
 */
export function topFrames(stack: string | undefined, count = FINGERPRINT_FRAMES): string[] {
  if (!stack) return [];
  const frames: string[] = [];
  for (const raw of stack.split("\n")) {
    const line = raw.trim();
    const frame = line.startsWith("at ") ? line.slice(3) : /^[^\s@]*@\S+:\d+/.test(line) ? line : undefined;
    if (frame === undefined) continue;
    frames.push(
      frame
        .replace(/^async\s+/, "")
        .replace(/(?:chrome|moz|safari-web|ms-browser)-extension:\/\/[^/\s)]+\//g, "extension://")
        .replace(/[.-][0-9a-f]{6,}(?=\.m?js\b)/gi, "")
        .replace(/(?::\d+){1,2}(?=\)?$)/, "")
        .trim(),
    );
    if (frames.length === count) break;
  }
  return frames;
}

export interface Fingerprint {
  /** 24 hex characters; the group's id. */
  groupId: string;
  source: "client" | "computed";
}

const hash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 24);

/**
 * The group of a scrubbed report: the client's fingerprint when it sent one (scrubbed, then
 * hashed, so it never shows), else a hash of the error type, the normalised message and the top
 * frames. The extension version is not part of it: the same error from two releases, at other
 * line numbers, is one group.
 */
export function fingerprintOf(report: ScrubbedReport, clientFingerprint?: string): Fingerprint {
  if (clientFingerprint !== undefined) {
    return { groupId: hash(`client\n${scrubText(clientFingerprint)}`), source: "client" };
  }
  const parts = [
    errorTypeOf(report.message, report.stack),
    normalizeMessage(report.message),
    ...topFrames(report.stack),
  ];
  return { groupId: hash(`computed\n${parts.join("\n")}`), source: "computed" };
}
