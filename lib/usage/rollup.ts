import { createHash } from "node:crypto";
import type { UpdateCommandInput } from "@aws-sdk/lib-dynamodb";
import { TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import type { UsageEvent } from "#lib/usage/event";

/**
 * The per-user daily rollup item: what analytics reads, and the dedupe record of the events it
 * counts. Layout (all top-level, so every counter is a plain `ADD` in one UpdateItem):
 *
 * - `ids`: string set of 11-character hashes (64 bits) of the event ids applied to this day;
 *   dropped by the nightly job once no event of the day can be accepted any more;
 * - `n` events, `ok` successes, `ss` sum of improvement scores in hundredths (an integer, so
 *   sums stay exact), `sn` number of scored events, `cr` credits the events reported;
 * - `t:<technique>`, `y:<type>` and `d:<domain>`: per-technique, per-type and per-domain counts
 *   (flat attributes rather than maps: DynamoDB's ADD works on top-level attributes only, and a
 *   nested `SET m.x = if_not_exists(...) + :v` needs the map created first and costs two of the
 *   300 operators an expression may hold per domain);
 * - `GSI1PK`/`GSI1SK` while `ids` is held: the nightly job finds the day's rollups through GSI1.
 */

/** Prefixes of the per-key count attributes. */
export const DOMAIN_PREFIX = "d:";
export const TECHNIQUE_PREFIX = "t:";
export const TYPE_PREFIX = "y:";

/** Shards of the dedupe work list on GSI1: a day's first writes by all users spread over this many keys. */
export const DEDUPE_INDEX_SHARDS = 16;

/**
 * Ids one conditional UpdateItem may carry. DynamoDB allows 300 operators or functions per
 * expression and each id costs three in the condition (`NOT`, `contains`, `AND`); 90 keeps a
 * margin, and the expression stays well under its 4 KB limit.
 */
export const MAX_IDS_PER_UPDATE = 90;

/** The compact dedupe form of an event id: 64 bits of its SHA-256, base64url (11 characters). */
export function idHash(eventId: string): string {
  return createHash("sha256").update(eventId).digest("base64url").slice(0, 11);
}

/** The GSI1 shard of a user's rollups (stable per user). */
export function dedupeShard(userId: string): number {
  return createHash("sha256").update(userId).digest().readUInt16BE(0) % DEDUPE_INDEX_SHARDS;
}

/** One event ready to be counted: its id hash and what it adds to the day. */
export interface CountedEvent {
  hash: string;
  event: UsageEvent;
}

/**
 * The conditional UpdateItem that adds a group of events of one day to the user's rollup: the
 * id hashes and every counter in one write, under the condition that none of the hashes is in
 * the set yet. Either all of the group is counted, or nothing is (ConditionalCheckFailed).
 */
export function rollupUpdate(userId: string, day: string, group: CountedEvent[]): UpdateCommandInput {
  if (group.length === 0 || group.length > MAX_IDS_PER_UPDATE) {
    throw new Error(`rollupUpdate takes 1..${MAX_IDS_PER_UPDATE} events, got ${group.length}`);
  }
  const names: Record<string, string> = { "#ids": "ids", "#g": "GSI1PK", "#gs": "GSI1SK" };
  const values: Record<string, unknown> = {
    ":ids": new Set(group.map((e) => e.hash)),
    ":g": keys.usageDedupeIndex(day, dedupeShard(userId)),
    ":gs": keys.userPartition(userId),
  };
  const add: string[] = ["#ids :ids"];
  const counters = new Map<string, number>();
  const bump = (attribute: string, by: number) => {
    if (by !== 0) counters.set(attribute, (counters.get(attribute) ?? 0) + by);
  };
  for (const { event } of group) {
    bump("n", 1);
    bump("ok", event.success ? 1 : 0);
    if (event.improvement_score !== undefined) {
      bump("ss", Math.round(event.improvement_score * 100));
      bump("sn", 1);
    }
    bump("cr", event.credits);
    bump(TECHNIQUE_PREFIX + event.technique, 1);
    bump(TYPE_PREFIX + event.type, 1);
    bump(DOMAIN_PREFIX + event.domain, 1);
  }
  let i = 0;
  for (const [attribute, by] of counters) {
    names[`#a${i}`] = attribute;
    values[`:a${i}`] = by;
    add.push(`#a${i} :a${i}`);
    i++;
  }
  const condition = group.map((_, j) => `NOT contains(#ids, :h${j})`).join(" AND ");
  group.forEach((e, j) => {
    values[`:h${j}`] = e.hash;
  });
  return {
    TableName: TABLE,
    Key: keys.usageRollup(userId, day),
    UpdateExpression: `ADD ${add.join(", ")} SET #g = :g, #gs = :gs`,
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** What one rollup item (one local day) counts. */
export interface DayCounts {
  events: number;
  successes: number;
  /** Sum of improvement scores, in hundredths. */
  scoreSum: number;
  scored: number;
  credits: number;
  domains: Record<string, number>;
  techniques: Record<string, number>;
  types: Record<string, number>;
}

export function emptyCounts(): DayCounts {
  return {
    events: 0,
    successes: 0,
    scoreSum: 0,
    scored: 0,
    credits: 0,
    domains: {},
    techniques: {},
    types: {},
  };
}

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);

/** Reads a rollup item's counters (ignores the dedupe set and index attributes). */
export function countsFromItem(item: Record<string, unknown>): DayCounts {
  const counts = emptyCounts();
  counts.events = num(item.n);
  counts.successes = num(item.ok);
  counts.scoreSum = num(item.ss);
  counts.scored = num(item.sn);
  counts.credits = num(item.cr);
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith(DOMAIN_PREFIX)) counts.domains[name.slice(DOMAIN_PREFIX.length)] = num(value);
    else if (name.startsWith(TECHNIQUE_PREFIX))
      counts.techniques[name.slice(TECHNIQUE_PREFIX.length)] = num(value);
    else if (name.startsWith(TYPE_PREFIX)) counts.types[name.slice(TYPE_PREFIX.length)] = num(value);
  }
  return counts;
}

/** Adds `b` into `a` (for period totals). */
export function addCounts(a: DayCounts, b: DayCounts): DayCounts {
  a.events += b.events;
  a.successes += b.successes;
  a.scoreSum += b.scoreSum;
  a.scored += b.scored;
  a.credits += b.credits;
  for (const field of ["domains", "techniques", "types"] as const) {
    for (const [k, v] of Object.entries(b[field])) a[field][k] = (a[field][k] ?? 0) + v;
  }
  return a;
}
