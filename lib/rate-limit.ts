import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { db, TABLE } from "#lib/db/client";
import { isConditionFailed } from "#lib/db/errors";
import { keys } from "#lib/db/keys";
import { AppError } from "#lib/errors";

/** One rate limit: at most `limit` units per fixed window of `windowSeconds`. */
export interface RateLimit {
  /** What is limited (`error-report-user`, `error-report-group`, ...); part of the key. */
  scope: string;
  limit: number;
  windowSeconds: number;
}

export interface RateLimitResult {
  allowed: boolean;
  /** Units used in the window after this call (equals `limit` when refused: the exact count is not read). */
  used: number;
  limit: number;
  /** Start and end of the current window. */
  windowStart: Date;
  resetAt: Date;
  /** Whole seconds until the window ends (at least 1): the `Retry-After` of a refusal. */
  retryAfterSeconds: number;
}

/**
 * Start of the fixed window containing `now`, in epoch seconds. Windows are aligned to multiples
 * of their length from the epoch, so every instance agrees on them without coordination.
 */
export function windowStartOf(now: Date, windowSeconds: number): number {
  const seconds = Math.floor(now.getTime() / 1000);
  return seconds - (seconds % windowSeconds);
}

/**
 * Takes `cost` units from a windowed counter: one item per key and window, one conditional
 * UpdateItem, no read. The condition is checked against the item BEFORE the update, so it reads
 * `n <= limit - cost` (what may still be taken), with `attribute_not_exists(n)` covering the first
 * request of a window. Concurrent callers can therefore never push `n` past `limit`: DynamoDB
 * serialises conditional writes on one item. A refused call writes nothing.
 *
 * The item carries `expires_at` (the window's end plus one window), so DynamoDB's TTL removes
 * old windows; nothing depends on that deletion having happened, because a new window is a new key.
 */
export async function consumeRateLimit(
  rule: RateLimit,
  id: string,
  now: Date,
  cost = 1,
): Promise<RateLimitResult> {
  const start = windowStartOf(now, rule.windowSeconds);
  const end = start + rule.windowSeconds;
  const base = {
    limit: rule.limit,
    windowStart: new Date(start * 1000),
    resetAt: new Date(end * 1000),
    retryAfterSeconds: Math.max(1, Math.ceil(end - now.getTime() / 1000)),
  };
  if (cost > rule.limit) return { ...base, allowed: false, used: rule.limit };
  try {
    const { Attributes } = await db.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: keys.rateLimitWindow(rule.scope, id, start),
        UpdateExpression: "ADD n :cost SET expires_at = :exp",
        ConditionExpression: "attribute_not_exists(n) OR n <= :max",
        ExpressionAttributeValues: {
          ":cost": cost,
          ":max": rule.limit - cost,
          ":exp": end + rule.windowSeconds,
        },
        ReturnValues: "UPDATED_NEW",
      }),
    );
    return { ...base, allowed: true, used: Number(Attributes?.n ?? cost) };
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
    return { ...base, allowed: false, used: rule.limit };
  }
}

/** The 429 of a refused rate limit, with `Retry-After` and the limit in the body. */
export function rateLimitedError(result: RateLimitResult, detail: string): AppError {
  return new AppError("RATE_LIMITED", detail, {
    headers: { "Retry-After": String(result.retryAfterSeconds) },
    extra: { limit: result.limit, retry_after_seconds: result.retryAfterSeconds },
  });
}
