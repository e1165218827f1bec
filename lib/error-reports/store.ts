import { createHash } from "node:crypto";
import { BatchGetCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { type Config, config } from "#lib/config";
import { db, TABLE } from "#lib/db/client";
import { isConditionFailed } from "#lib/db/errors";
import { type Key, keys } from "#lib/db/keys";
import { type ErrorGroupsQuery, type ScrubbedReport, truncate } from "#lib/error-reports/schema";
import { addDays } from "#lib/time";

/**
 * Storage of error reports: one sample item per report (in the sender's partition, keyed by the
 * client's report id, with a TTL) and one group item per fingerprint (counts, first/last seen,
 * levels, versions, per-day counts, the latest sample, alert state).
 *
 * Exactly-once without transactions. A report is stored and counted in four single-item writes:
 *   1. put the sample, conditional on `attribute_not_exists(PK)`, with `counted = false`;
 *      the one request that creates it owns the counting, every other (a resend) stops here;
 *   2. count it in the group: `ADD count :1, counting {tag}` conditional on
 *      `NOT contains(counting, tag)`, where `tag` is a hash of the sample's key. The count and
 *      the record that this sample was counted change in one atomic write, so this step can be
 *      repeated safely: a repeat fails its condition instead of counting twice;
 *   3. mark the sample `counted = true`;
 *   4. `DELETE counting {tag}` from the group, keeping the set small.
 * A crash before 2 leaves an uncounted sample; a crash between 2 and 3 leaves a counted sample
 * whose tag is still in `counting`. Either way the sample says `counted = false`, and a later
 * resend of the report finishes the job: once the sample is older than RECOVERY_AFTER_MS (far
 * longer than a Lambda may run, so its first owner is surely gone), the resend claims the
 * recovery with a conditional lease on the sample (`recovering_until`), repeats step 2 (counted
 * only if the tag is absent), then 3 and 4. Resends while the owner may still be running answer
 * "duplicate" without touching the group, which is what makes step 4 safe: nobody repeats step 2
 * after the owner removed its tag. A crash between 3 and 4 only leaves a stale tag (a few bytes).
 */

/** How old an uncounted sample must be before a resend may finish its counting. */
export const RECOVERY_AFTER_MS = 60_000;
/** Lease of one recovery attempt. */
const RECOVERY_LEASE_MS = 30_000;
/** Per-day counts kept on a group (older ones are removed as the group is updated). */
const DAYS_KEPT = 31;
const GROUPS_SCANNED_MAX = 1_000;

/** The fields of a group item the intake and the alerting read. */
export interface GroupState {
  group_id: string;
  count: number;
  /** Count of the receive day of the report just counted. */
  day_count: number;
  first_seen: string;
  last_seen: string;
  error_type: string;
  title: string;
  levels: string[];
  versions: string[];
  dropped: number;
  sample: SampleSummary;
  last_alert_at?: number;
  alert_pending?: string;
}

/** The short form of a report kept on its group (the full sample lives in its own item). */
export interface SampleSummary {
  report_id: string;
  level: string;
  message: string;
  stack_head?: string;
  extension_version: string;
  browser: string;
  os: string;
  url?: string;
  received_at: string;
}

export type StoreStatus = "stored" | "duplicate" | "recovered";

export interface StoreResult {
  status: StoreStatus;
  groupId: string;
  /** The group after counting; absent when this call counted nothing. */
  group?: GroupState;
}

/** `day_YYYYMMDD`: the attribute of a group that counts one UTC day. */
export const dayAttribute = (day: string) => `day_${day.replaceAll("-", "")}`;

function summaryOf(report: ScrubbedReport, receivedAt: string): SampleSummary {
  return {
    report_id: report.id,
    level: report.level,
    message: truncate(report.message, 500),
    stack_head: report.stack ? truncate(report.stack.split("\n").slice(0, 6).join("\n"), 1_000) : undefined,
    extension_version: report.extension_version,
    browser: report.browser,
    os: report.os,
    url: report.url,
    received_at: receivedAt,
  };
}

/** The tag that marks, in the group's `counting` set, a sample counted but not yet marked. */
export function countingTag(key: Key): string {
  return createHash("sha256").update(`${key.PK}\n${key.SK}`).digest("base64url").slice(0, 22);
}

interface SampleItem {
  user_id: string;
  group_id: string;
  error_type: string;
  report: ScrubbedReport;
  received_at: string;
  counted: boolean;
  recovering_until?: number;
}

/**
 * Stores a scrubbed report and counts it in its group, exactly once per (user, report id)
 * however often and however concurrently it is sent (see the module comment).
 */
export async function storeReport(
  userId: string,
  report: ScrubbedReport,
  groupId: string,
  errorType: string,
  now: Date,
  cfg: Pick<Config, "ERROR_SAMPLE_TTL_DAYS"> = config,
): Promise<StoreResult> {
  const key = keys.errorReport(userId, report.id);
  const receivedAt = now.toISOString();
  const sample: SampleItem = {
    user_id: userId,
    group_id: groupId,
    error_type: errorType,
    report,
    received_at: receivedAt,
    counted: false,
  };
  try {
    await db.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          ...key,
          GSI1PK: keys.errorSamplesIndex(groupId),
          GSI1SK: keys.errorSampleIndexSort(receivedAt, report.id),
          ...sample,
          expires_at: Math.floor(now.getTime() / 1000) + cfg.ERROR_SAMPLE_TTL_DAYS * 86_400,
        },
        ConditionExpression: "attribute_not_exists(PK)",
      }),
    );
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
    return resumeDuplicate(key, groupId, now);
  }
  return { status: "stored", groupId, group: await countSample(key, sample, now) };
}

/** A resend: a no-op, unless the first attempt crashed long ago before finishing its counting. */
async function resumeDuplicate(key: Key, groupId: string, now: Date): Promise<StoreResult> {
  const { Item } = await db.send(new GetCommand({ TableName: TABLE, Key: key, ConsistentRead: true }));
  const existing = Item as (SampleItem & Key) | undefined;
  if (!existing) return { status: "duplicate", groupId };
  const duplicate: StoreResult = { status: "duplicate", groupId: existing.group_id };
  if (existing.counted || now.getTime() - Date.parse(existing.received_at) < RECOVERY_AFTER_MS)
    return duplicate;
  try {
    await db.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: key,
        UpdateExpression: "SET recovering_until = :until",
        ConditionExpression:
          "counted = :false AND (attribute_not_exists(recovering_until) OR recovering_until < :now)",
        ExpressionAttributeValues: {
          ":until": now.getTime() + RECOVERY_LEASE_MS,
          ":false": false,
          ":now": now.getTime(),
        },
      }),
    );
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
    return duplicate;
  }
  return { status: "recovered", groupId: existing.group_id, group: await countSample(key, existing, now) };
}

/** Steps 2 to 4: count the sample in its group (idempotent by tag), mark it, drop the tag. */
async function countSample(key: Key, sample: SampleItem, now: Date): Promise<GroupState | undefined> {
  const tag = new Set([countingTag(key)]);
  const groupKey = keys.errorGroup(sample.group_id);
  const day = sample.received_at.slice(0, 10);
  const stale = Array.from({ length: 7 }, (_, i) => dayAttribute(addDays(day, -(DAYS_KEPT + i))));
  const staleNames = Object.fromEntries(stale.map((name, i) => [`#old${i}`, name]));
  let group: GroupState | undefined;
  try {
    const { Attributes } = await db.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: groupKey,
        UpdateExpression: [
          "ADD #count :one, #day :one, counting :tag, levels :level, versions :version",
          "SET group_id = :gid, first_seen = if_not_exists(first_seen, :received), last_seen = :now,",
          "error_type = if_not_exists(error_type, :type), title = if_not_exists(title, :title),",
          "#sample = :sample, GSI1PK = :gpk, GSI1SK = :gsk",
          `REMOVE ${Object.keys(staleNames).join(", ")}`,
        ].join(" "),
        ConditionExpression: "attribute_not_exists(counting) OR NOT contains(counting, :tagValue)",
        ExpressionAttributeNames: {
          "#count": "count",
          "#sample": "sample",
          "#day": dayAttribute(day),
          ...staleNames,
        },
        ExpressionAttributeValues: {
          ":one": 1,
          ":tag": tag,
          ":tagValue": countingTag(key),
          ":level": new Set([sample.report.level]),
          ":version": new Set([sample.report.extension_version]),
          ":gid": sample.group_id,
          ":received": sample.received_at,
          ":now": now.toISOString(),
          ":type": sample.error_type,
          ":title": truncate(sample.report.message, 200),
          ":sample": summaryOf(sample.report, sample.received_at),
          ":gpk": keys.errorGroupsIndex(),
          ":gsk": keys.errorGroupsIndexSort(now.toISOString().slice(0, 13), sample.group_id),
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    group = groupStateOf(Attributes ?? {}, day);
  } catch (error) {
    // Already counted by an attempt that crashed before marking the sample: only finish up.
    if (!isConditionFailed(error)) throw error;
  }
  await db.send(
    new UpdateCommand({
      TableName: TABLE,
      Key: key,
      UpdateExpression: "SET counted = :true REMOVE recovering_until",
      ExpressionAttributeValues: { ":true": true },
    }),
  );
  await db.send(
    new UpdateCommand({
      TableName: TABLE,
      Key: groupKey,
      UpdateExpression: "DELETE counting :tag",
      ExpressionAttributeValues: { ":tag": tag },
    }),
  );
  return group;
}

const asList = (value: unknown): string[] =>
  value instanceof Set ? [...value].map(String).sort() : Array.isArray(value) ? value.map(String) : [];

function groupStateOf(item: Record<string, unknown>, day: string): GroupState {
  return {
    group_id: String(item.group_id),
    count: Number(item.count ?? 0),
    day_count: Number(item[dayAttribute(day)] ?? 0),
    first_seen: String(item.first_seen ?? ""),
    last_seen: String(item.last_seen ?? ""),
    error_type: String(item.error_type ?? "Error"),
    title: String(item.title ?? ""),
    levels: asList(item.levels),
    versions: asList(item.versions),
    dropped: Number(item.dropped ?? 0),
    sample: item.sample as SampleSummary,
    last_alert_at: typeof item.last_alert_at === "number" ? item.last_alert_at : undefined,
    alert_pending: typeof item.alert_pending === "string" ? item.alert_pending : undefined,
  };
}

/**
 * Counts a report refused by a rate limit on its group (`dropped`, `last_dropped_at`), so the team
 * knows what it did not see. Only an existing group is touched: refused reports never create
 * groups (a flood of made-up fingerprints cannot fill the table). Returns whether a group took it.
 */
export async function recordDropped(groupId: string, now: Date): Promise<boolean> {
  try {
    await db.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: keys.errorGroup(groupId),
        UpdateExpression: "ADD dropped :one SET last_dropped_at = :now",
        ConditionExpression: "attribute_exists(PK)",
        ExpressionAttributeValues: { ":one": 1, ":now": now.toISOString() },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailed(error)) return false;
    throw error;
  }
}

/** Reads one group (tests and the admin listing); undefined when it does not exist. */
export async function readGroup(groupId: string, day?: string): Promise<GroupState | undefined> {
  const { Item } = await db.send(
    new GetCommand({ TableName: TABLE, Key: keys.errorGroup(groupId), ConsistentRead: true }),
  );
  return Item ? groupStateOf(Item, day ?? new Date().toISOString().slice(0, 10)) : undefined;
}

/** Reads one stored sample as the sender's report id names it. */
export async function readSample(userId: string, reportId: string) {
  const { Item } = await db.send(
    new GetCommand({ TableName: TABLE, Key: keys.errorReport(userId, reportId), ConsistentRead: true }),
  );
  return Item as (SampleItem & Key & { expires_at: number }) | undefined;
}

/**
 * Gate of the alerting: moves `last_alert_at` to now only when the previous alert of this group
 * is older than the cooldown (or there was none), clearing any pending retry. Of concurrent
 * reports, exactly one wins it, which is what makes "at most one alert per group per cooldown".
 */
export async function claimAlert(groupId: string, now: Date, cooldownSeconds: number, reason: string) {
  try {
    await db.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: keys.errorGroup(groupId),
        UpdateExpression: "SET last_alert_at = :now, last_alert_reason = :reason REMOVE alert_pending",
        ConditionExpression:
          "attribute_exists(PK) AND (attribute_not_exists(last_alert_at) OR last_alert_at <= :cutoff)",
        ExpressionAttributeValues: {
          ":now": now.getTime(),
          ":reason": reason,
          ":cutoff": now.getTime() - cooldownSeconds * 1000,
        },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailed(error)) return false;
    throw error;
  }
}

/**
 * Undoes a claimed alert whose delivery failed: `last_alert_at` goes back to its previous value
 * and `alert_pending` holds the reason, so the next report of the group tries again. Conditional
 * on the claim still being ours.
 */
export async function releaseAlert(
  groupId: string,
  claimedAt: Date,
  previous: number | undefined,
  reason: string,
) {
  try {
    await db.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: keys.errorGroup(groupId),
        UpdateExpression:
          previous === undefined
            ? "SET alert_pending = :reason REMOVE last_alert_at"
            : "SET alert_pending = :reason, last_alert_at = :previous",
        ConditionExpression: "last_alert_at = :claimed",
        ExpressionAttributeValues: {
          ":reason": reason,
          ":claimed": claimedAt.getTime(),
          ...(previous === undefined ? {} : { ":previous": previous }),
        },
      }),
    );
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
  }
}

/** One group as GET /system/errors lists it. */
export interface GroupListing {
  group_id: string;
  title: string;
  error_type: string;
  count_in_period: number;
  count_total: number;
  dropped: number;
  first_seen: string;
  last_seen: string;
  levels: string[];
  versions: string[];
  latest_sample: SampleSummary;
  samples: ScrubbedReportSample[];
}

export interface ScrubbedReportSample {
  report: ScrubbedReport;
  received_at: string;
}

export interface GroupsPage {
  period: { days: number; from: string; to: string };
  groups: GroupListing[];
  /** Groups seen in the period that were looked at (capped at 1000). */
  groups_seen: number;
}

async function batchGet(keyList: Key[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < keyList.length; i += 100) {
    let pending: Key[] = keyList.slice(i, i + 100);
    for (let attempt = 0; pending.length > 0 && attempt < 5; attempt++) {
      const { Responses, UnprocessedKeys } = await db.send(
        new BatchGetCommand({ RequestItems: { [TABLE]: { Keys: pending } } }),
      );
      out.push(...(Responses?.[TABLE] ?? []));
      pending = (UnprocessedKeys?.[TABLE]?.Keys as Key[] | undefined) ?? [];
      if (pending.length > 0) await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
    }
  }
  return out;
}

/**
 * The top groups of the last `days` UTC days (today included), by their count in that period:
 * GSI1 finds the groups last seen since the period began (keys only), one BatchGet per 100 reads
 * them, their per-day counts give the period's count; then, for the groups shown, GSI1 gives
 * their newest samples.
 */
export async function listTopGroups(query: ErrorGroupsQuery, now: Date): Promise<GroupsPage> {
  const today = now.toISOString().slice(0, 10);
  const from = addDays(today, -(query.days - 1));
  const dayNames = Array.from({ length: query.days }, (_, i) => dayAttribute(addDays(from, i)));

  const groupKeys: Key[] = [];
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: TABLE,
        IndexName: "GSI1",
        KeyConditionExpression: "GSI1PK = :pk AND GSI1SK >= :from",
        ExpressionAttributeValues: { ":pk": keys.errorGroupsIndex(), ":from": `${from}T00` },
        ScanIndexForward: false,
        ExclusiveStartKey: cursor,
        Limit: GROUPS_SCANNED_MAX - groupKeys.length,
      }),
    );
    for (const item of page.Items ?? []) groupKeys.push({ PK: String(item.PK), SK: String(item.SK) });
    cursor = page.LastEvaluatedKey;
  } while (cursor && groupKeys.length < GROUPS_SCANNED_MAX);

  const ranked = (await batchGet(groupKeys))
    .map((item) => ({
      item,
      inPeriod: dayNames.reduce((sum, name) => sum + Number(item[name] ?? 0), 0),
    }))
    .filter((g) => g.inPeriod > 0)
    .sort(
      (a, b) => b.inPeriod - a.inPeriod || String(b.item.last_seen).localeCompare(String(a.item.last_seen)),
    )
    .slice(0, query.limit);

  const samples = await recentSamples(
    ranked.map(({ item }) => String(item.group_id)),
    query.samples,
  );
  const groups = ranked.map(({ item, inPeriod }): GroupListing => {
    const state = groupStateOf(item, today);
    return {
      group_id: state.group_id,
      title: state.title,
      error_type: state.error_type,
      count_in_period: inPeriod,
      count_total: state.count,
      dropped: state.dropped,
      first_seen: state.first_seen,
      last_seen: state.last_seen,
      levels: state.levels,
      versions: state.versions,
      latest_sample: state.sample,
      samples: samples.get(state.group_id) ?? [],
    };
  });
  return { period: { days: query.days, from, to: today }, groups, groups_seen: groupKeys.length };
}

/**
 * The newest samples of several groups: one keys-only GSI1 query per group (concurrently), then
 * one BatchGet per 100 samples for all of them together.
 */
async function recentSamples(
  groupIds: string[],
  limit: number,
): Promise<Map<string, ScrubbedReportSample[]>> {
  const bySample = new Map<string, ScrubbedReportSample[]>();
  if (limit === 0 || groupIds.length === 0) return bySample;
  const keyLists = await Promise.all(
    groupIds.map(async (groupId) => {
      const { Items } = await db.send(
        new QueryCommand({
          TableName: TABLE,
          IndexName: "GSI1",
          KeyConditionExpression: "GSI1PK = :pk",
          ExpressionAttributeValues: { ":pk": keys.errorSamplesIndex(groupId) },
          ScanIndexForward: false,
          Limit: limit,
        }),
      );
      return (Items ?? []).map((i) => ({ PK: String(i.PK), SK: String(i.SK) }));
    }),
  );
  for (const item of await batchGet(keyLists.flat())) {
    const groupId = String(item.group_id);
    const list = bySample.get(groupId) ?? [];
    list.push({ report: item.report as ScrubbedReport, received_at: String(item.received_at) });
    bySample.set(groupId, list);
  }
  for (const list of bySample.values()) list.sort((a, b) => b.received_at.localeCompare(a.received_at));
  return bySample;
}
