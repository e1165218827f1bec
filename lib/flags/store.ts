import { GetCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { db, TABLE } from "#lib/db/client";
import { isConditionFailed } from "#lib/db/errors";
import { keys } from "#lib/db/keys";
import { AppError } from "#lib/errors";
import {
  BUILT_IN_FLAGS,
  builtInFlag,
  FlagDefinition,
  FlagKey,
  isPlanConfig,
  type VersionedFlag,
} from "#lib/flags/definitions";
import { validate } from "#lib/http";
import { log } from "#lib/log";

/**
 * Flag definitions in DynamoDB, versioned. The current definition of a flag is one item
 * (`FLAGS` / `DEF#<key>`) carrying its version; every change writes version + 1 with a
 * condition on the version it read, so two operators never overwrite each other silently.
 * Each version is also kept as a history item (`FLAGHIST#<key>` / `V#<version>`), which is what
 * rollback restores. A flag without an item is its built-in definition, version 0.
 */

/** Largest definition we store: DynamoDB items stop at 400 KB, and history keeps a copy of each. */
const MAX_DEFINITION_BYTES = 300_000;
const WRITE_ATTEMPTS = 5;

export interface HistoryEntry {
  version: number;
  action: string;
  actor: string;
  at: string;
  note?: string;
  definition: FlagDefinition;
}

function flagFromItem(item: Record<string, unknown>): VersionedFlag | undefined {
  const key = FlagKey.safeParse(item.key);
  const definition = FlagDefinition.safeParse(item.definition);
  const version = item.version;
  if (!key.success || !definition.success || typeof version !== "number" || version < 1) {
    log("error", "malformed flag definition item ignored", { sk: item.SK });
    return undefined;
  }
  return {
    key: key.data,
    version,
    definition: definition.data,
    source: "stored",
    updated_at: typeof item.updated_at === "string" ? item.updated_at : undefined,
    updated_by: typeof item.updated_by === "string" ? item.updated_by : undefined,
  };
}

/**
 * Every flag: the built-in ones (replaced by their stored definition when one exists) first, in
 * code order, then flags operators created, by key. One strongly consistent Query (a page per
 * 1 MB), so a kill switch written a moment ago is seen by the next load.
 */
export async function loadFlags(): Promise<VersionedFlag[]> {
  const stored = new Map<string, VersionedFlag>();
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues: { ":pk": keys.flagDefinitions(), ":prefix": keys.flagDefinitionPrefix() },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const flag = flagFromItem(item);
      if (flag) stored.set(flag.key, flag);
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  const builtIns = Object.keys(BUILT_IN_FLAGS).map(
    (key) => stored.get(key) ?? (builtInFlag(key) as VersionedFlag),
  );
  const created = [...stored.values()]
    .filter((f) => !(f.key in BUILT_IN_FLAGS))
    .sort((a, b) => a.key.localeCompare(b.key));
  return [...builtIns, ...created];
}

/** One flag, read strongly consistent: stored, else built-in, else undefined. */
export async function readFlag(key: string): Promise<VersionedFlag | undefined> {
  if (!FlagKey.safeParse(key).success) return undefined;
  const { Item } = await db.send(
    new GetCommand({ TableName: TABLE, Key: keys.flagDefinition(key), ConsistentRead: true }),
  );
  return (Item && flagFromItem(Item)) || builtInFlag(key);
}

/** Validates a candidate definition: a problem is a 422 naming each field path (as for a request body). */
export function parseDefinition(candidate: unknown): FlagDefinition {
  const definition = validate(FlagDefinition, candidate, "body");
  if (Buffer.byteLength(JSON.stringify(definition)) > MAX_DEFINITION_BYTES) {
    throw new AppError("VALIDATION_FAILED", `A flag definition may not exceed ${MAX_DEFINITION_BYTES} bytes`);
  }
  return definition;
}

export interface ChangeMeta {
  /** Who changed it: the admin's user id, or `cli:<login>`. */
  actor: string;
  /** What kind of change (`set-default`, `kill`, `rollback`, ...), kept in history. */
  action: string;
  note?: string;
  /** When given, the change applies only to this version (409 otherwise); else it retries on races. */
  expectedVersion?: number;
}

/**
 * Applies a change to a flag and stores it as the next version. `change` gets the current flag
 * (undefined for a key that neither exists nor is built in) and returns the new definition,
 * which is validated. The write is conditional on the version read; on a race the change is
 * re-applied to the newer version (it is a pure function of it), unless `expectedVersion` pins
 * one, in which case the caller gets 409. Then the history item of the new version is written,
 * and the one of the version replaced if an interrupted change left it missing.
 */
export async function changeFlag(
  key: string,
  change: (current: VersionedFlag | undefined) => unknown,
  meta: ChangeMeta,
  now = new Date(),
): Promise<VersionedFlag> {
  if (!FlagKey.safeParse(key).success) {
    throw new AppError("VALIDATION_FAILED", `Invalid flag key "${key}": flag keys are snake_case`);
  }
  if (isPlanConfig(key)) {
    throw new AppError(
      "VALIDATION_FAILED",
      `${key} comes from the plan (lib/plans.ts), not from a flag, so that limits and config agree`,
    );
  }
  for (let attempt = 1; ; attempt++) {
    const current = await readFlag(key);
    const currentVersion = current?.version ?? 0;
    if (meta.expectedVersion !== undefined && meta.expectedVersion !== currentVersion) {
      throw new AppError(
        "CONFLICT",
        `Flag ${key} is at version ${currentVersion}, not ${meta.expectedVersion}; reload and retry`,
        { extra: { current_version: currentVersion } },
      );
    }
    const definition = parseDefinition(change(current));
    if (current && current.definition.type !== definition.type) {
      throw new AppError(
        "VALIDATION_FAILED",
        `Flag ${key} is a ${current.definition.type}; its type cannot change`,
      );
    }
    const version = currentVersion + 1;
    const record = {
      key,
      version,
      definition,
      action: meta.action,
      note: meta.note,
      updated_at: now.toISOString(),
      updated_by: meta.actor,
    };
    try {
      await db.send(
        new PutCommand({
          TableName: TABLE,
          Item: { ...keys.flagDefinition(key), ...record },
          ...(current?.source === "stored"
            ? { ConditionExpression: "version = :v", ExpressionAttributeValues: { ":v": currentVersion } }
            : { ConditionExpression: "attribute_not_exists(PK)" }),
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      if (meta.expectedVersion !== undefined || attempt >= WRITE_ATTEMPTS) {
        throw new AppError("CONFLICT", `Flag ${key} changed while this change was applied; retry`);
      }
      continue;
    }
    await db.send(
      new PutCommand({ TableName: TABLE, Item: { ...keys.flagHistory(key, version), ...record } }),
    );
    if (current?.source === "stored") await ensureHistory(current);
    log("info", "flag changed", { flag: key, version, action: meta.action, actor: meta.actor });
    return {
      key,
      version,
      definition,
      source: "stored",
      updated_at: record.updated_at,
      updated_by: meta.actor,
    };
  }
}

/** Writes a version's history item if it is missing (a change interrupted between its two writes). */
async function ensureHistory(flag: VersionedFlag): Promise<void> {
  try {
    await db.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          ...keys.flagHistory(flag.key, flag.version),
          key: flag.key,
          version: flag.version,
          definition: flag.definition,
          action: "recovered",
          updated_at: flag.updated_at,
          updated_by: flag.updated_by,
        },
        ConditionExpression: "attribute_not_exists(PK)",
      }),
    );
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
  }
}

function entryFromItem(item: Record<string, unknown>): HistoryEntry | undefined {
  const definition = FlagDefinition.safeParse(item.definition);
  if (!definition.success || typeof item.version !== "number") return undefined;
  return {
    version: item.version,
    action: String(item.action ?? "change"),
    actor: String(item.updated_by ?? "unknown"),
    at: String(item.updated_at ?? ""),
    note: typeof item.note === "string" ? item.note : undefined,
    definition: definition.data,
  };
}

/**
 * A flag's versions, newest first (at most `limit`). For a built-in flag, version 0 (the
 * definition in code) closes the list, so rollback to 0 is always possible.
 */
export async function readHistory(key: string, limit: number): Promise<HistoryEntry[]> {
  const { Items } = await db.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: "PK = :pk",
      ExpressionAttributeValues: { ":pk": keys.flagHistoryPartition(key) },
      ScanIndexForward: false,
      Limit: limit,
      ConsistentRead: true,
    }),
  );
  const entries = (Items ?? []).map(entryFromItem).filter((e): e is HistoryEntry => e !== undefined);
  const builtIn = builtInFlag(key);
  if (builtIn && entries.length < limit) {
    entries.push({ version: 0, action: "built-in", actor: "code", at: "", definition: builtIn.definition });
  }
  return entries;
}

/** One version of a flag's definition (0 = built-in), or undefined when it was never stored. */
export async function readVersion(key: string, version: number): Promise<FlagDefinition | undefined> {
  if (version === 0) return builtInFlag(key)?.definition;
  const { Item } = await db.send(
    new GetCommand({ TableName: TABLE, Key: keys.flagHistory(key, version), ConsistentRead: true }),
  );
  if (Item) return entryFromItem(Item)?.definition;
  const current = await readFlag(key);
  return current?.version === version ? current.definition : undefined;
}
