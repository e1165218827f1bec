import { PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { db, TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import { TECHNIQUES } from "#lib/plans";

/** Shared builders of the usage tests: events, a profile timezone, and the stored rollups. */

const DOMAINS = ["https://chatgpt.com/c/1", "claude.ai", "gemini.google.com", "Perplexity.AI:443/search?q=x"];

/** A valid event number `i` (ids `prefix-i`), `hoursAgo` before `now`; `over` changes fields. */
export function usageEvent(
  i: number,
  options: { prefix?: string; hoursAgo?: number; now?: number; over?: Record<string, unknown> } = {},
): Record<string, unknown> {
  const now = options.now ?? Date.now();
  const hoursAgo = options.hoursAgo ?? i % 72;
  return {
    id: `${options.prefix ?? "e"}-${i}`,
    type: i % 5 === 0 ? "rewrite" : "upgrade",
    timestamp: new Date(now - hoursAgo * 3_600_000 - 1000).toISOString(),
    domain: DOMAINS[i % DOMAINS.length],
    technique: TECHNIQUES[i % TECHNIQUES.length],
    success: i % 4 !== 0,
    ...(i % 4 !== 0 ? { improvement_score: (i % 11) * 0.7 + 0.1 } : {}),
    credits: 1 + (i % 3),
    extension_version: "1.4.2",
    ...options.over,
  };
}

/** Sets the user's profile timezone (the profile module's item, written directly). */
export async function setTimeZone(userId: string, timezone: string): Promise<void> {
  await db.send(
    new PutCommand({
      TableName: TABLE,
      Item: { ...keys.userProfile(userId), plan: "free", timezone, created_at: new Date().toISOString() },
    }),
  );
}

/** Every item of the user's partition whose SK starts like `keys.usageRollup(...)` or `usageEvent(...)`. */
async function itemsWithPrefix(userId: string, prefix: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :p)",
        ExpressionAttributeValues: { ":pk": keys.userPartition(userId), ":p": prefix },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** The user's rollups by day, without the keys (so two users' rollups compare equal). */
export async function rollupsOf(userId: string): Promise<Record<string, Record<string, unknown>>> {
  const items = await itemsWithPrefix(userId, keys.usageRollup(userId, "").SK);
  const out: Record<string, Record<string, unknown>> = {};
  for (const { PK, SK, GSI1PK, GSI1SK, ...rest } of items) out[String(SK).slice(-10)] = rest;
  return out;
}

/** The user's raw event items by event id. */
export async function rawEventsOf(userId: string): Promise<Map<string, Record<string, unknown>>> {
  const items = await itemsWithPrefix(userId, keys.usageEvent(userId, "").SK);
  return new Map(items.map((item) => [String(item.event_id), item]));
}

/** Sum of the `n` (events) counters over all the user's rollups. */
export async function countedEvents(userId: string): Promise<number> {
  const rollups = await rollupsOf(userId);
  return Object.values(rollups).reduce((acc, r) => acc + Number(r.n ?? 0), 0);
}
