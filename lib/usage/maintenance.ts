import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { db, TABLE } from "#lib/db/client";
import { isConditionFailed } from "#lib/db/errors";
import { keys } from "#lib/db/keys";
import { log } from "#lib/log";
import { addDays, localDate } from "#lib/time";
import { MAX_EVENT_AGE_DAYS } from "#lib/usage/event";
import { DEDUPE_INDEX_SHARDS } from "#lib/usage/rollup";

/**
 * Days kept past the acceptance window before a day's dedupe set is dropped. An event is
 * refused once it is MAX_EVENT_AGE_DAYS old; the last instant of local day D is at most
 * D+1 12:00 UTC (UTC-12), so from UTC day D + MAX_EVENT_AGE_DAYS + 2 on, no event of D can be
 * accepted and its set is never consulted again.
 */
export const DEDUPE_RETENTION_DAYS = MAX_EVENT_AGE_DAYS + 2;
/** Days a first run (no checkpoint) looks back for sets to drop. */
const FIRST_RUN_LOOKBACK_DAYS = 7;
/** Days one run processes at most (a long outage is caught up over a few nights). */
const MAX_DAYS_PER_RUN = 60;

export interface MaintenanceSummary {
  /** Days whose sets were all dropped in this run (oldest first). */
  days: string[];
  /** Rollup items whose dedupe set was removed. */
  dropped: number;
  /** The checkpoint after the run: the last day fully done. */
  done_through: string | null;
  /** True when the run stopped at its deadline; the next run resumes from the checkpoint. */
  stopped_early: boolean;
}

/**
 * The nightly job (usageMaintenance): removes the dedupe set (`ids`) of every rollup whose day
 * is older than DEDUPE_RETENTION_DAYS, so the rollups analytics reads stay small. It finds them
 * through GSI1 (`usageDedupeIndex(day, shard)`, written with the set), so its cost grows with
 * the users active on the closed day, not with all users. Idempotent: removing a removed set
 * is a no-op and the item leaves the index with it. Resumable: a checkpoint item records the
 * last day fully done, and the run stops before `deadline` (epoch ms).
 * Late or failed runs never affect correctness: a set kept longer only costs read units.
 */
export async function dropExpiredDedupeSets(
  now = new Date(),
  deadline = Infinity,
): Promise<MaintenanceSummary> {
  const cutoff = addDays(localDate(now, "UTC"), -DEDUPE_RETENTION_DAYS);
  const { Item } = await db.send(
    new GetCommand({ TableName: TABLE, Key: keys.usageMaintenanceCheckpoint(), ConsistentRead: true }),
  );
  const doneThrough = typeof Item?.done_through === "string" ? Item.done_through : undefined;
  let day = doneThrough ? addDays(doneThrough, 1) : addDays(cutoff, -(FIRST_RUN_LOOKBACK_DAYS - 1));
  const summary: MaintenanceSummary = {
    days: [],
    dropped: 0,
    done_through: doneThrough ?? null,
    stopped_early: false,
  };
  for (let n = 0; day <= cutoff && n < MAX_DAYS_PER_RUN; n++, day = addDays(day, 1)) {
    for (let shard = 0; shard < DEDUPE_INDEX_SHARDS; shard++) {
      if (Date.now() > deadline) {
        summary.stopped_early = true;
        log("info", "usage maintenance stopped at its deadline", { ...summary });
        return summary;
      }
      summary.dropped += await dropShard(day, shard);
    }
    await db.send(
      new PutCommand({
        TableName: TABLE,
        Item: { ...keys.usageMaintenanceCheckpoint(), done_through: day, updated_at: now.toISOString() },
      }),
    );
    summary.days.push(day);
    summary.done_through = day;
  }
  log("info", "usage maintenance done", { ...summary });
  return summary;
}

async function dropShard(day: string, shard: number): Promise<number> {
  let dropped = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: TABLE,
        IndexName: "GSI1",
        KeyConditionExpression: "GSI1PK = :g",
        ExpressionAttributeValues: { ":g": keys.usageDedupeIndex(day, shard) },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) {
      try {
        await db.send(
          new UpdateCommand({
            TableName: TABLE,
            Key: { PK: item.PK, SK: item.SK },
            UpdateExpression: "REMOVE #ids, GSI1PK, GSI1SK",
            // Only the index entry it came from: never touches an item that changed meanwhile.
            ConditionExpression: "GSI1PK = :g",
            ExpressionAttributeNames: { "#ids": "ids" },
            ExpressionAttributeValues: { ":g": keys.usageDedupeIndex(day, shard) },
          }),
        );
        dropped++;
      } catch (error) {
        if (!isConditionFailed(error)) throw error;
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return dropped;
}
