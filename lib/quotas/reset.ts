import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
} from "@aws-sdk/lib-dynamodb";
import { config } from "#lib/config";
import { db, TABLE } from "#lib/db/client";
import { type Key, keys } from "#lib/db/keys";
import { log } from "#lib/log";
import { counterExpiry, dailyCreditsFromQuotaItem } from "#lib/quotas";
import { addDays, addMonths } from "#lib/time";

/*
 * The scheduled quota-reset job. Counters need no reset (they are keyed by their window), so this
 * job only does the bookkeeping that must not sit on the request path:
 *  - closes each finished local day D: a statement per user charged on D (used, limit, plan);
 *  - after a month's last day, closes the month: a statement per user charged that month;
 *  - then deletes the counters (and statements) of the month that left retention.
 * Users are found through GSI1: every month counter carries GSI1PK = QUOTA_ACTIVE#<month>#<shard>
 * and GSI1SK = <last charged local day>#<user>, so "charged on D or later" is one range per
 * shard and the cost grows with the users active in the window, never with all users.
 *
 * A local date D has ended everywhere (UTC+14 to UTC-12) at D+1 12:00 UTC; the job closes only
 * such days. It keeps a checkpoint (last closed day, and the phase/shard/page it is in), saves it
 * after every page, and stops early when the invocation runs out of time: the next run resumes.
 * Statements are written with deterministic content, so re-running a page changes nothing.
 */

type Phase = "day" | "month" | "purge";
const PHASES: Phase[] = ["day", "month", "purge"];

interface Task {
  day: string;
  phase: Phase;
  shard: number;
  cursor?: Record<string, unknown>;
}

interface Checkpoint {
  closed_through?: string;
  task?: Task;
}

export interface ResetOptions {
  now: Date;
  /** Milliseconds this invocation has left (Lambda's getRemainingTimeInMillis). */
  remainingMs?: () => number;
  /** Stop (and checkpoint) when less than this is left. */
  safetyMs?: number;
  /** The first day to close when there is no checkpoint yet (default: the latest closable day). */
  startAt?: string;
  shards?: number;
  retentionMonths?: number;
  /** Index keys per page. */
  pageSize?: number;
  /** Stop after this many pages (tests of resumption). */
  maxPages?: number;
  /** Days closed at most in one run (a catch-up after an outage goes on in the next runs). */
  maxDays?: number;
}

export interface ResetSummary {
  closed_through: string | null;
  days_closed: string[];
  months_closed: string[];
  months_purged: string[];
  users_seen: number;
  day_statements: number;
  month_statements: number;
  counters_deleted: number;
  statements_deleted: number;
  pages: number;
  finished: boolean;
  resumed: boolean;
  duration_ms: number;
}

/** The latest local date that has ended in every timezone at `now`. */
export function latestClosableDay(now: Date): string {
  return new Date(now.getTime() - 36 * 3600_000).toISOString().slice(0, 10);
}

const isLastDayOfMonth = (day: string) => addDays(day, 1).slice(0, 7) !== day.slice(0, 7);
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);

async function readCheckpoint(): Promise<Checkpoint> {
  const { Item } = await db.send(
    new GetCommand({ TableName: TABLE, Key: keys.quotaResetCheckpoint(), ConsistentRead: true }),
  );
  return { closed_through: Item?.closed_through as string | undefined, task: Item?.task as Task | undefined };
}

async function saveCheckpoint(checkpoint: Checkpoint, now: Date): Promise<void> {
  await db.send(
    new PutCommand({
      TableName: TABLE,
      Item: { ...keys.quotaResetCheckpoint(), ...checkpoint, updated_at: now.toISOString() },
    }),
  );
}

async function batchWrite(requests: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < requests.length; i += 25) {
    let pending = requests.slice(i, i + 25);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 25 * 2 ** Math.min(attempt, 6)));
      const out = await db.send(new BatchWriteCommand({ RequestItems: { [TABLE]: pending } }));
      pending = (out.UnprocessedItems?.[TABLE] ?? []) as Record<string, unknown>[];
    }
  }
}

async function batchGet(keyList: Key[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < keyList.length; i += 100) {
    let pending = keyList.slice(i, i + 100);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 25 * 2 ** Math.min(attempt, 6)));
      const res = await db.send(new BatchGetCommand({ RequestItems: { [TABLE]: { Keys: pending } } }));
      out.push(...(res.Responses?.[TABLE] ?? []));
      pending = (res.UnprocessedKeys?.[TABLE]?.Keys ?? []) as Key[];
    }
  }
  return out;
}

/** Runs the job: closes every closable day after the checkpoint, within the time it has. */
export async function runQuotaReset(options: ResetOptions): Promise<ResetSummary> {
  const started = performance.now();
  const shards = options.shards ?? config.QUOTA_ACTIVE_SHARDS;
  const retention = options.retentionMonths ?? config.QUOTA_RETENTION_MONTHS;
  const pageSize = options.pageSize ?? 100;
  const safetyMs = options.safetyMs ?? 10_000;
  const remaining = options.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const last = latestClosableDay(options.now);
  const checkpoint = await readCheckpoint();
  const summary: ResetSummary = {
    closed_through: checkpoint.closed_through ?? null,
    days_closed: [],
    months_closed: [],
    months_purged: [],
    users_seen: 0,
    day_statements: 0,
    month_statements: 0,
    counters_deleted: 0,
    statements_deleted: 0,
    pages: 0,
    finished: false,
    resumed: checkpoint.task !== undefined,
    duration_ms: 0,
  };
  const firstDay = checkpoint.closed_through
    ? addDays(checkpoint.closed_through, 1)
    : (options.startAt ?? last);
  let task: Task | undefined =
    checkpoint.task ?? (firstDay <= last ? { day: firstDay, phase: "day", shard: 0 } : undefined);
  let daysThisRun = 0;
  const maxDays = options.maxDays ?? 31;

  const outOfTime = () =>
    remaining() < safetyMs || (options.maxPages !== undefined && summary.pages >= options.maxPages);

  while (task) {
    if (outOfTime()) {
      await saveCheckpoint({ closed_through: summary.closed_through ?? undefined, task }, options.now);
      return finish(summary, started);
    }
    const month = task.day.slice(0, 7);
    const indexMonth = task.phase === "purge" ? addMonths(month, -retention) : month;
    const page = await db.send(
      new QueryCommand({
        TableName: TABLE,
        IndexName: "GSI1",
        KeyConditionExpression: task.phase === "day" ? "GSI1PK = :pk AND GSI1SK >= :from" : "GSI1PK = :pk",
        ExpressionAttributeValues:
          task.phase === "day"
            ? { ":pk": keys.quotaActiveIndex(indexMonth, task.shard), ":from": task.day }
            : { ":pk": keys.quotaActiveIndex(indexMonth, task.shard) },
        Limit: pageSize,
        ExclusiveStartKey: task.cursor,
      }),
    );
    summary.pages++;
    const counterKeys = (page.Items ?? []).map((i) => ({ PK: String(i.PK), SK: String(i.SK) }));
    if (counterKeys.length > 0) {
      if (task.phase === "purge") await purge(counterKeys, indexMonth, summary);
      else await close(task, counterKeys, retention, summary);
    }

    // Next page, next shard, next phase, or the day is closed.
    if (page.LastEvaluatedKey) task = { ...task, cursor: page.LastEvaluatedKey };
    else if (task.shard + 1 < shards) task = { day: task.day, phase: task.phase, shard: task.shard + 1 };
    else {
      const nextPhase = isLastDayOfMonth(task.day) ? PHASES[PHASES.indexOf(task.phase) + 1] : undefined;
      if (nextPhase) {
        if (task.phase === "day") summary.days_closed.push(task.day);
        if (task.phase === "month") summary.months_closed.push(month);
        task = { day: task.day, phase: nextPhase, shard: 0 };
      } else {
        if (task.phase === "day") summary.days_closed.push(task.day);
        if (task.phase === "purge") summary.months_purged.push(indexMonth);
        summary.closed_through = task.day;
        daysThisRun++;
        const next = addDays(task.day, 1);
        task = next <= last && daysThisRun < maxDays ? { day: next, phase: "day", shard: 0 } : undefined;
      }
    }
    await saveCheckpoint({ closed_through: summary.closed_through ?? undefined, task }, options.now);
  }
  summary.finished = true;
  return finish(summary, started);
}

function finish(summary: ResetSummary, started: number): ResetSummary {
  summary.duration_ms = Math.round(performance.now() - started);
  log("info", "quota reset", { ...summary });
  return summary;
}

/** Writes the day (or month) statements of one page of counters. */
async function close(
  task: Task,
  counterKeys: Key[],
  retention: number,
  summary: ResetSummary,
): Promise<void> {
  const items = await batchGet(counterKeys);
  summary.users_seen += items.length;
  const month = task.day.slice(0, 7);
  const writes: Record<string, unknown>[] = [];
  for (const item of items) {
    const userId = String(item.user_id ?? "");
    if (!userId) continue;
    const base = {
      user_id: userId,
      plan: item.plan,
      timezone: item.tz,
      expires_at: counterExpiry(month, retention),
    };
    if (task.phase === "day") {
      const used = num(item[`d${task.day.slice(8, 10)}`]);
      if (used <= 0) continue; // charged later in the month, not on this day
      writes.push({
        PutRequest: {
          Item: {
            ...keys.quotaStatement(userId, `DAY#${task.day}`),
            ...base,
            window: "day",
            date: task.day,
            used,
            limit: num(item.dl),
          },
        },
      });
      summary.day_statements++;
    } else {
      const used = num(item.m);
      if (used <= 0) continue;
      writes.push({
        PutRequest: {
          Item: {
            ...keys.quotaStatement(userId, `MONTH#${month}`),
            ...base,
            window: "month",
            month,
            used,
            limit: num(item.ml),
            days: dailyCreditsFromQuotaItem(item),
          },
        },
      });
      summary.month_statements++;
    }
  }
  await batchWrite(writes);
}

/** Deletes one page of counters past retention, with their statements. */
async function purge(counterKeys: Key[], month: string, summary: ResetSummary): Promise<void> {
  for (const key of counterKeys) {
    const old: Record<string, unknown>[] = [];
    for (const prefix of [
      keys.quotaStatementPrefix(`DAY#${month}-`),
      keys.quotaStatementPrefix(`MONTH#${month}`),
    ]) {
      const found = await db.send(
        new QueryCommand({
          TableName: TABLE,
          KeyConditionExpression: "PK = :pk AND begins_with(SK, :prefix)",
          ExpressionAttributeValues: { ":pk": key.PK, ":prefix": prefix },
          ProjectionExpression: "PK, SK",
        }),
      );
      old.push(...(found.Items ?? []));
    }
    await batchWrite(old.map((s) => ({ DeleteRequest: { Key: { PK: s.PK, SK: s.SK } } })));
    summary.statements_deleted += old.length;
    await db.send(new DeleteCommand({ TableName: TABLE, Key: key }));
    summary.counters_deleted++;
  }
}
