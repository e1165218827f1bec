import { BatchWriteCommand, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { AuthUser } from "#lib/auth";
import { config } from "#lib/config";
import { db, TABLE } from "#lib/db/client";
import { isConditionFailed } from "#lib/db/errors";
import { keys } from "#lib/db/keys";
import { AppError } from "#lib/errors";
import { getOrCreateProfile } from "#lib/profile";
import { consumeRateLimit, rateLimitedError } from "#lib/rate-limit";
import { localDate } from "#lib/time";
import { type CheckedEvent, checkEvent, MAX_EVENTS_PER_DAY, MAX_EVENTS_PER_SYNC } from "#lib/usage/event";
import { type CountedEvent, idHash, MAX_IDS_PER_UPDATE, rollupUpdate } from "#lib/usage/rollup";

/**
 * Bulk ingestion of usage events, exactly once per (user, event id).
 *
 * Order of writes, and why retries are exact:
 * 0. One read per local day of the sync fetches the day's set of applied ids: an event already
 *    in it is `duplicate` at once. Its raw item exists, since raw items are always written
 *    before an id enters a set (1 before 2), so a retried sync costs a read, not a rewrite.
 * 1. Every other valid event's raw item is written first (BatchWriteItem, keyed by the event id,
 *    so a re-sent event overwrites itself with the same content).
 * 2. Then each local day's events are counted by conditional UpdateItems on that day's rollup:
 *    the id hashes and the counters in ONE write, under the condition that none of the ids is
 *    in the day's set. The rollup is the count of record.
 * A crash after 1 leaves raw events that are not counted yet; the retry rewrites them (no-op)
 * and counts them. A crash inside 2 leaves some groups counted; the retry finds their ids in
 * the set and answers `duplicate` for them. So any number of retries, interrupted anywhere,
 * ends with every event counted once and its raw item present. A raw item can exist for an
 * event that was never counted only when its sync failed and was never retried: the audit
 * trail is a superset of the counts, never a subset.
 */

export type OutcomeStatus = "accepted" | "duplicate" | "rejected";

/** What happened to one event of a sync, by its position in the request. */
export interface EventOutcome {
  index: number;
  /** The event's id, or null when it had no usable id. */
  id: string | null;
  status: OutcomeStatus;
  /** Why the event was rejected (field path and problem). */
  reason?: string;
  /** Set when the timestamp was in the future and was replaced by the receive time. */
  timestamp_clamped?: true;
}

export interface BulkTrackResult {
  received: number;
  accepted: number;
  duplicate: number;
  rejected: number;
  /** Events whose timestamp was clamped to the receive time (they are accepted or duplicate). */
  clamped: number;
  results: EventOutcome[];
}

interface Pending extends CountedEvent {
  index: number;
  checked: CheckedEvent;
  day: string;
}

/**
 * Records a sync of usage events for a user (POST /users/usage/bulk-track). Events are checked
 * one by one: a bad event is rejected with its reason and never stops the good ones. An id seen
 * twice in one sync counts once (the later copies are `duplicate`). Events are bucketed by the
 * local day of their time in the user's profile timezone. Throws 413 past MAX_EVENTS_PER_SYNC.
 */
export async function trackUsage(
  user: AuthUser,
  events: unknown[],
  now = new Date(),
): Promise<BulkTrackResult> {
  if (events.length > MAX_EVENTS_PER_SYNC) {
    throw new AppError(
      "PAYLOAD_TOO_LARGE",
      `A sync may carry at most ${MAX_EVENTS_PER_SYNC} events; send the rest in another sync`,
      { extra: { max_events: MAX_EVENTS_PER_SYNC } },
    );
  }
  const rate = await consumeRateLimit(
    { scope: "usage-sync", limit: config.USAGE_SYNCS_PER_MINUTE, windowSeconds: 60 },
    user.id,
    now,
  );
  if (!rate.allowed) {
    throw rateLimitedError(rate, `At most ${rate.limit} syncs a minute; send the rest after Retry-After`);
  }
  const results: EventOutcome[] = [];
  const valid: { index: number; checked: CheckedEvent }[] = [];
  const seen = new Set<string>();
  for (const [index, raw] of events.entries()) {
    const check = checkEvent(raw, now);
    if (!check.ok) {
      results.push({ index, id: check.id, status: "rejected", reason: check.reason });
      continue;
    }
    const { event, clamped } = check.value;
    const outcome: EventOutcome = { index, id: event.id, status: "accepted" };
    if (clamped) outcome.timestamp_clamped = true;
    results.push(outcome);
    if (seen.has(event.id)) {
      outcome.status = "duplicate";
      continue;
    }
    seen.add(event.id);
    valid.push({ index, checked: check.value });
  }

  if (valid.length > 0) {
    const { timezone } = await getOrCreateProfile(user, now);
    const pending: Pending[] = valid.map(({ index, checked }) => ({
      index,
      checked,
      day: localDate(checked.at, timezone),
      hash: idHash(checked.event.id),
      event: checked.event,
    }));
    // Ids already in their day's set were counted, and their raw item was written before that:
    // a retried sync skips them without rewriting anything (a stale read only misses some,
    // which then take the full path below and come out `duplicate` there).
    const days = [...new Set(pending.map((p) => p.day))];
    const applied = new Map<string, Set<string>>();
    await runLimited(days, 8, async (day) => {
      applied.set(day, await appliedHashes(user.id, day, false));
    });
    const fresh: Pending[] = [];
    const dayCounts = new Map(days.map((day) => [day, applied.get(day)?.size ?? 0]));
    for (const p of pending) {
      const outcome = results[p.index];
      if (!outcome) continue;
      const counted = dayCounts.get(p.day) ?? 0;
      if (applied.get(p.day)?.has(p.hash)) outcome.status = "duplicate";
      else if (counted >= MAX_EVENTS_PER_DAY) {
        outcome.status = "rejected";
        outcome.reason = `day_full: at most ${MAX_EVENTS_PER_DAY} events are counted per local day`;
      } else {
        dayCounts.set(p.day, counted + 1);
        fresh.push(p);
      }
    }

    await writeRawEvents(user.id, fresh, timezone);
    const byDay = new Map<string, Pending[]>();
    for (const p of fresh) {
      const list = byDay.get(p.day);
      if (list) list.push(p);
      else byDay.set(p.day, [p]);
    }
    const groups: { day: string; group: Pending[] }[] = [];
    for (const [day, list] of byDay) {
      for (let i = 0; i < list.length; i += MAX_IDS_PER_UPDATE) {
        groups.push({ day, group: list.slice(i, i + MAX_IDS_PER_UPDATE) });
      }
    }
    await runLimited(groups, 4, async ({ day, group }) => {
      const duplicates = await countGroup(user.id, day, group);
      for (const p of group) {
        const outcome = results[p.index];
        if (outcome && duplicates.has(p.hash)) outcome.status = "duplicate";
      }
    });
  }

  const tally = (status: OutcomeStatus) => results.filter((r) => r.status === status).length;
  return {
    received: events.length,
    accepted: tally("accepted"),
    duplicate: tally("duplicate"),
    rejected: tally("rejected"),
    clamped: results.filter((r) => r.timestamp_clamped && r.status !== "rejected").length,
    results,
  };
}

/**
 * Counts one group of a day's events and returns the hashes that were already counted.
 * First the whole group in one conditional write. When that fails, some ids are in the set:
 * one consistent read of the set classifies them as duplicates (an id in the set was counted by
 * the same write that added it), and the rest is tried again as a group. A group that keeps
 * failing (concurrent syncs adding the same ids meanwhile) falls back to one conditional write
 * per event, which classifies each exactly.
 */
async function countGroup(userId: string, day: string, group: CountedEvent[]): Promise<Set<string>> {
  const duplicates = new Set<string>();
  let rest = group;
  for (let round = 0; round < 3 && rest.length > 0; round++) {
    if (await tryCount(userId, day, rest)) return duplicates;
    const applied = await appliedHashes(userId, day, true);
    for (const e of rest) if (applied.has(e.hash)) duplicates.add(e.hash);
    rest = rest.filter((e) => !applied.has(e.hash));
  }
  await runLimited(rest, 8, async (e) => {
    if (!(await tryCount(userId, day, [e]))) duplicates.add(e.hash);
  });
  return duplicates;
}

/** One conditional rollup write; false when an id of the group was already counted. */
async function tryCount(userId: string, day: string, group: CountedEvent[]): Promise<boolean> {
  try {
    await db.send(new UpdateCommand(rollupUpdate(userId, day, group)));
    return true;
  } catch (error) {
    if (isConditionFailed(error)) return false;
    throw error;
  }
}

/** The id hashes already counted in a day's rollup (the set only grows, so a stale read only misses some). */
async function appliedHashes(userId: string, day: string, consistent: boolean): Promise<Set<string>> {
  const { Item } = await db.send(
    new GetCommand({
      TableName: TABLE,
      Key: keys.usageRollup(userId, day),
      ProjectionExpression: "#ids",
      ExpressionAttributeNames: { "#ids": "ids" },
      ConsistentRead: consistent,
    }),
  );
  const ids = Item?.ids;
  return ids instanceof Set ? (ids as Set<string>) : new Set();
}

const BATCH_WRITE_SIZE = 25;
const MAX_BATCH_ATTEMPTS = 8;

/** The raw item of an event: deterministic content, so rewriting it on a retry changes nothing. */
function rawItem(userId: string, p: Pending, timeZone: string): Record<string, unknown> {
  const { event, at, clamped } = p.checked;
  return {
    ...keys.usageEvent(userId, event.id),
    event_id: event.id,
    type: event.type,
    timestamp: new Date(at).toISOString(),
    client_timestamp: clamped ? event.timestamp : undefined,
    timestamp_clamped: clamped || undefined,
    day: p.day,
    timezone: timeZone,
    domain: event.domain,
    technique: event.technique,
    success: event.success,
    improvement_score: event.improvement_score,
    credits: event.credits,
    duration_ms: event.duration_ms,
    extension_version: event.extension_version,
    consume_key: event.consume_key,
    expires_at: Math.floor(at / 1000) + config.USAGE_EVENT_TTL_DAYS * 86_400,
  };
}

/**
 * Writes the raw events with BatchWriteItem (25 per request, 4 requests in flight), retrying
 * UnprocessedItems with exponential backoff. If DynamoDB keeps refusing, the sync fails with
 * 503 and nothing has been counted yet: the client's retry is exact.
 */
async function writeRawEvents(userId: string, pending: Pending[], timeZone: string): Promise<void> {
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < pending.length; i += BATCH_WRITE_SIZE) {
    batches.push(pending.slice(i, i + BATCH_WRITE_SIZE).map((p) => rawItem(userId, p, timeZone)));
  }
  await runLimited(batches, 4, async (items) => {
    let requests = items.map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 1; requests.length > 0; attempt++) {
      const out = await db.send(new BatchWriteCommand({ RequestItems: { [TABLE]: requests } }));
      requests = (out.UnprocessedItems?.[TABLE] ?? []) as typeof requests;
      if (requests.length === 0) return;
      if (attempt >= MAX_BATCH_ATTEMPTS) {
        throw new AppError("UNAVAILABLE", "The service is busy; retry the sync shortly", {
          headers: { "Retry-After": "2" },
          cause: `${requests.length} raw usage events unprocessed after ${attempt} attempts`,
        });
      }
      await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random())));
    }
  });
}

/** Runs `work` over `items` with at most `limit` in flight; rejects with the first failure. */
async function runLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(lanes);
}
