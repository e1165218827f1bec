import { z } from "zod";
import { Action, Technique } from "#lib/plans";

/**
 * The usage event the extension queues while it works (online or offline) and syncs in bulk.
 * It describes what happened, never the prompt: the schema is strict, so a `prompt` (or any other
 * unknown field) rejects the event instead of being stored.
 */

/** How far back an event may be: older ones are refused, so a day's dedupe set can be dropped after it. */
export const MAX_EVENT_AGE_DAYS = 35;
/** How far ahead of the receive time a timestamp may be before it is clamped to the receive time. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;
/** At most this many events per sync (past it: 413). */
export const MAX_EVENTS_PER_SYNC = 500;
/**
 * Events counted per user and local day. A day's rollup holds the hashes of its counted ids, and
 * DynamoDB refuses items over 400 KB (about 30,000 hashes): past this cap events are rejected one
 * by one with a reason, well before the item could grow too large for the write that counts them.
 */
export const MAX_EVENTS_PER_DAY = 10_000;
/** At most this many bytes per sync body (past it: 413, checked before parsing). */
export const MAX_SYNC_BODY_BYTES = 1_048_576;

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * The site of an event as a lower-case host name, from a bare host (`Claude.AI`,
 * `chatgpt.com:443/c/1`) or an http(s) URL (`https://user:pw@Gemini.Google.com:8443/app?q=1`):
 * path, query, fragment, port and credentials are dropped, so no URL detail (which may carry
 * prompt text or tokens) is ever stored. Returns undefined for anything that is not a host:
 * other schemes (`chrome://`, `javascript:`), single-label names other than `localhost`,
 * labels with characters a DNS name cannot have, names longer than 253 characters.
 */
export function normalizeDomain(input: string): string | undefined {
  const text = input.trim();
  if (text === "" || text.length > 2048 || /\s/.test(text)) return undefined;
  const hasScheme = SCHEME.test(text);
  if (hasScheme && !/^https?:\/\//i.test(text)) return undefined;
  // A bare value with `@` is an address or a URL missing its scheme: not a host we can trust.
  if (!hasScheme && text.includes("@")) return undefined;
  let url: URL;
  try {
    url = new URL(hasScheme ? text : `http://${text}`);
  } catch {
    return undefined;
  }
  let host = url.hostname.toLowerCase();
  if (host.endsWith(".")) host = host.slice(0, -1);
  if (host.startsWith("[")) return host.length <= 64 ? host : undefined; // IPv6, validated by URL
  if (host.length === 0 || host.length > 253) return undefined;
  const labels = host.split(".");
  if (labels.length < 2 && host !== "localhost") return undefined;
  return labels.every((label) => HOST_LABEL.test(label)) ? host : undefined;
}

const Domain = z
  .string()
  .max(2048)
  .transform((value, ctx) => {
    const host = normalizeDomain(value);
    if (host === undefined) {
      ctx.addIssue({ code: "custom", message: "must be a host name (example.com) or an http(s) URL" });
      return z.NEVER;
    }
    return host;
  });

/** One usage event as the extension sends it (after domain normalisation). */
export const UsageEvent = z.strictObject({
  /** Client-generated id: the dedupe key, per user. */
  id: z.string().min(1).max(64),
  /** What the user did: one of the priced actions (an upgrade of some kind). */
  type: Action,
  /** When it happened, ISO-8601 with a zone (`Z` or an offset). */
  timestamp: z.iso.datetime({ offset: true }),
  domain: Domain,
  technique: Technique,
  success: z.boolean(),
  /** How much better the engine judged the upgraded prompt; absent when the upgrade failed. */
  improvement_score: z.number().min(0).max(10).optional(),
  /** Credits the action cost (informational: events never charge; consume does). */
  credits: z.number().int().min(0).max(1_000),
  duration_ms: z.number().int().min(0).max(3_600_000).optional(),
  extension_version: z
    .string()
    .max(32)
    .regex(/^[\w.+-]+$/, "must be a version like 1.4.2")
    .optional(),
  /** The idempotency key of the consume that charged this action, when the engine charged it. */
  consume_key: z.string().min(1).max(128).optional(),
});
export type UsageEvent = z.output<typeof UsageEvent>;

/** A valid event with the instant it is counted at (clamped when it claimed the future). */
export interface CheckedEvent {
  event: UsageEvent;
  /** Epoch ms the event counts at: its timestamp, or the receive time when clamped. */
  at: number;
  clamped: boolean;
}

export type EventCheck = { ok: true; value: CheckedEvent } | { ok: false; id: string | null; reason: string };

/**
 * Validates one event against the schema and the time window: older than MAX_EVENT_AGE_DAYS is
 * refused; more than MAX_FUTURE_SKEW_MS ahead of `now` is clamped to `now` and flagged. The
 * reason of a refusal names the field, so the extension can log what it sent wrong.
 */
export function checkEvent(raw: unknown, now: Date): EventCheck {
  const parsed = UsageEvent.safeParse(raw);
  const rawId = (raw as { id?: unknown } | null)?.id;
  const id = typeof rawId === "string" && rawId.length <= 64 ? rawId : null;
  if (!parsed.success) {
    const reason = parsed.error.issues
      .slice(0, 5)
      .map((issue) => (issue.path.length ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
      .join("; ");
    return { ok: false, id, reason };
  }
  const event = parsed.data;
  const at = Date.parse(event.timestamp);
  if (at < now.getTime() - MAX_EVENT_AGE_DAYS * 86_400_000) {
    return { ok: false, id, reason: `timestamp: older than ${MAX_EVENT_AGE_DAYS} days` };
  }
  if (at > now.getTime() + MAX_FUTURE_SKEW_MS) {
    return { ok: true, value: { event, at: now.getTime(), clamped: true } };
  }
  return { ok: true, value: { event, at, clamped: false } };
}
