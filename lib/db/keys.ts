/**
 * The only place that builds key strings. Every item's PK/SK (and GSI1PK/GSI1SK where it is
 * indexed) comes from a function here; the README's access-pattern table lists them.
 *
 * Ids from outside (JWT `sub`, client event ids) may contain `#`; they are always the last
 * segment of a key or are escaped, so they cannot forge another key's prefix.
 */

/** Escapes `#` (the segment separator) and `%` so a user-supplied id is one opaque segment. */
export function segment(id: string): string {
  return id.replace(/%/g, "%25").replace(/#/g, "%23");
}

export interface Key {
  PK: string;
  SK: string;
}

export const keys = {
  /** Operator settings of the health check (maintenance window, notices, forced statuses). */
  healthSettings: (): Key => ({ PK: "SYSTEM", SK: "HEALTH" }),
  /** Partition of every item that belongs to one user. */
  userPartition: (userId: string): string => `USER#${segment(userId)}`,
  /** The user's profile: plan, timezone, limit overrides. */
  userProfile: (userId: string): Key => ({ PK: `USER#${segment(userId)}`, SK: "PROFILE" }),
  /**
   * A user's quota counters for one local month (`YYYY-MM` in the profile timezone): `m` = credits
   * used this month, `dDD` (d01..d31) = credits used that local day, plus the idempotency-key ring.
   */
  quotaMonth: (userId: string, month: string): Key => ({
    PK: `USER#${segment(userId)}`,
    SK: `QUOTA#${month}`,
  }),
  /** GSI1PK of a month counter: one of `shards` partitions of the users charged in that local month. */
  quotaActiveIndex: (month: string, shard: number): string => `QUOTA_ACTIVE#${month}#${shard}`,
  /** GSI1SK of a month counter: the user's last charged local day, then the user, so a range finds a day's users. */
  quotaActiveIndexSort: (date: string, userId: string): string => `${date}#${segment(userId)}`,
  /** The closing statement of one window (`DAY#YYYY-MM-DD` or `MONTH#YYYY-MM`) for one user. */
  quotaStatement: (userId: string, window: string): Key => ({
    PK: `USER#${segment(userId)}`,
    SK: `QSTATEMENT#${window}`,
  }),
  /** Sort-key prefix of a user's quota statements of one window kind and period (`DAY#2026-12-`, `MONTH#2026-12`). */
  quotaStatementPrefix: (windowPrefix: string): string => `QSTATEMENT#${windowPrefix}`,
  /** Checkpoint of the scheduled quota-reset job (last closed day, the shard and page it stopped at). */
  quotaResetCheckpoint: (): Key => ({ PK: "SYSTEM", SK: "QUOTA_RESET" }),
  /** Partition of the current feature-flag definitions (one Query loads them all). */
  flagDefinitions: (): string => "FLAGS",
  /** Sort-key prefix of a flag definition in the `flagDefinitions()` partition. */
  flagDefinitionPrefix: (): string => "DEF#",
  /** The current definition of one feature flag (with its version). */
  flagDefinition: (flagKey: string): Key => ({ PK: "FLAGS", SK: `DEF#${segment(flagKey)}` }),
  /** Partition of one flag's history: one item per version, newest last. */
  flagHistoryPartition: (flagKey: string): string => `FLAGHIST#${segment(flagKey)}`,
  /** One version of a flag's definition, kept for history and rollback (zero-padded so SK sorts by version). */
  flagHistory: (flagKey: string, version: number): Key => ({
    PK: `FLAGHIST#${segment(flagKey)}`,
    SK: `V#${String(version).padStart(10, "0")}`,
  }),
  /** One fixed window of a rate-limit counter (lib/rate-limit.ts); `windowStart` in epoch seconds. */
  rateLimitWindow: (scope: string, id: string, windowStart: number): Key => ({
    PK: `RATE#${segment(scope)}#${segment(id)}`,
    SK: `W#${windowStart}`,
  }),
  /** One stored error report (sample), in its sender's partition; the key is the client's report id. */
  errorReport: (userId: string, reportId: string): Key => ({
    PK: `USER#${segment(userId)}`,
    SK: `ERRREPORT#${segment(reportId)}`,
  }),
  /** The group (fingerprint) of error reports: counts, first/last seen, latest sample, alert state. */
  errorGroup: (groupId: string): Key => ({ PK: `ERRGROUP#${segment(groupId)}`, SK: "GROUP" }),
  /** GSI1PK of every error group; GSI1SK is `errorGroupsIndexSort`, so a range finds groups seen lately. */
  errorGroupsIndex: (): string => "ERRGROUPS",
  /** GSI1SK of an error group: the hour it was last seen (`YYYY-MM-DDTHH`), then its id. */
  errorGroupsIndexSort: (hour: string, groupId: string): string => `${hour}#${segment(groupId)}`,
  /** GSI1PK of the samples of one error group (newest first by `errorSampleIndexSort`). */
  errorSamplesIndex: (groupId: string): string => `ERRSAMPLES#${segment(groupId)}`,
  /** GSI1SK of one sample: receive time, then the report id. */
  errorSampleIndexSort: (receivedAt: string, reportId: string): string =>
    `${receivedAt}#${segment(reportId)}`,
  /** A user's usage rollup of one local day (`YYYY-MM-DD`): counts and that day's applied event-id hashes. */
  usageRollup: (userId: string, day: string): Key => ({
    PK: `USER#${segment(userId)}`,
    SK: `USAGEDAY#${day}`,
  }),
  /** One raw usage event (audit, re-aggregation), keyed by its client id so a re-sent event overwrites itself. */
  usageEvent: (userId: string, eventId: string): Key => ({
    PK: `USER#${segment(userId)}`,
    SK: `USAGEEVT#${segment(eventId)}`,
  }),
  /** GSI1PK of the rollups of one day that still hold a dedupe set, sharded by user: the nightly job's work list. */
  usageDedupeIndex: (day: string, shard: number): string => `USAGEDEDUPE#${day}#${shard}`,
  /** Checkpoint of the usage maintenance job: the last day whose dedupe sets are all dropped. */
  usageMaintenanceCheckpoint: (): Key => ({ PK: "SYSTEM", SK: "USAGE_MAINTENANCE" }),
};
