import { z } from "zod";
import { AppError } from "#lib/errors";
import { clearFlagCache } from "#lib/flags/cache";
import {
  type FlagDefinition,
  FlagType,
  FlagValue,
  Rollout,
  TargetingRule,
  type VersionedFlag,
} from "#lib/flags/definitions";
import {
  changeFlag,
  type HistoryEntry,
  loadFlags,
  readFlag,
  readHistory,
  readVersion,
} from "#lib/flags/store";

/**
 * Operator actions on flags, shared by the admin routes and `npm run admin -- flags ...`.
 * Every change is a new version (see store.ts) and clears this process's cache; other warm
 * instances pick it up within FLAGS_CACHE_SECONDS.
 */

/** Body of PUT /admin/flags/{key}: the fields to replace; creating a flag needs `type` and `default`. */
export const FlagPatch = z
  .object({
    type: FlagType.optional(),
    description: z.string().max(500).optional(),
    default: FlagValue.optional(),
    rules: z.array(TargetingRule).max(50).optional(),
    rollout: Rollout.nullable().optional(),
    overrides: z.record(z.string().min(1).max(256), FlagValue).optional(),
    killed: z.boolean().optional(),
    kill_reason: z.string().max(500).nullable().optional(),
    /** Apply only if the flag is still at this version (409 otherwise). */
    expected_version: z.number().int().min(0).optional(),
  })
  .strict();
export type FlagPatch = z.infer<typeof FlagPatch>;

export const KillRequest = z
  .object({ reason: z.string().min(1).max(500).optional() })
  .strict()
  .optional();
export const RollbackRequest = z.object({ version: z.number().int().min(0) }).strict();
export const OverrideRequest = z
  .object({ user_id: z.string().min(1).max(256), value: FlagValue.nullable() })
  .strict();
export const HistoryQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) });

function existing(key: string, current: VersionedFlag | undefined): VersionedFlag {
  if (!current) throw new AppError("NOT_FOUND", `No flag named "${key}"`);
  return current;
}

async function change(
  key: string,
  actor: string,
  action: string,
  edit: (definition: FlagDefinition) => FlagDefinition,
  options: { note?: string; expectedVersion?: number } = {},
): Promise<VersionedFlag> {
  const flag = await changeFlag(key, (current) => edit(existing(key, current).definition), {
    actor,
    action,
    ...options,
  });
  clearFlagCache();
  return flag;
}

/** Every flag with its version and source (read fresh, not from the cache). */
export function listFlags(): Promise<VersionedFlag[]> {
  return loadFlags();
}

/** One flag (404 for an unknown key). */
export async function getFlag(key: string): Promise<VersionedFlag> {
  return existing(key, await readFlag(key));
}

/**
 * Replaces the given fields of a flag, or creates a flag (then `type` and `default` are required).
 * A flag's type never changes once it exists.
 */
export async function updateFlag(key: string, patch: FlagPatch, actor: string): Promise<VersionedFlag> {
  const { expected_version, ...fields } = patch;
  const flag = await changeFlag(
    key,
    (current) => {
      if (!current && (fields.type === undefined || fields.default === undefined)) {
        throw new AppError("NOT_FOUND", `No flag named "${key}"; to create it, give its type and default`);
      }
      return { ...current?.definition, ...fields };
    },
    { actor, action: "update", expectedVersion: expected_version },
  );
  clearFlagCache();
  return flag;
}

/** Sets the flag's default (its first evaluation step). */
export function setDefault(key: string, value: FlagValue, actor: string): Promise<VersionedFlag> {
  return change(key, actor, "set-default", (d) => ({ ...d, default: value }));
}

/**
 * Sets the percentage rollout. `value` defaults to `true` for a boolean flag; a percentage of 0
 * with no value removes the rollout.
 */
export function setRollout(
  key: string,
  percentage: number,
  value: FlagValue | undefined,
  actor: string,
): Promise<VersionedFlag> {
  return change(key, actor, "set-rollout", (d) => {
    if (percentage === 0 && value === undefined) return { ...d, rollout: null };
    const served = value ?? d.rollout?.value ?? (d.type === "boolean" ? true : undefined);
    if (served === undefined) {
      throw new AppError("VALIDATION_FAILED", `A rollout of a ${d.type} flag needs the value it serves`);
    }
    return { ...d, rollout: { percentage, value: served } };
  });
}

/** Adds a targeting rule (last, so earlier rules keep priority); its id must be new. */
export function addRule(key: string, rule: TargetingRule, actor: string): Promise<VersionedFlag> {
  return change(key, actor, "add-rule", (d) => ({ ...d, rules: [...d.rules, rule] }), { note: rule.id });
}

/** Removes a targeting rule by id (404 when the flag has none with that id). */
export function removeRule(key: string, ruleId: string, actor: string): Promise<VersionedFlag> {
  return change(
    key,
    actor,
    "remove-rule",
    (d) => {
      if (!d.rules.some((r) => r.id === ruleId))
        throw new AppError("NOT_FOUND", `Flag ${key} has no rule "${ruleId}"`);
      return { ...d, rules: d.rules.filter((r) => r.id !== ruleId) };
    },
    { note: ruleId },
  );
}

/** Fixes one user's value (support), or with `null` removes their override. */
export function setOverride(
  key: string,
  userId: string,
  value: FlagValue | null,
  actor: string,
): Promise<VersionedFlag> {
  return change(
    key,
    actor,
    value === null ? "clear-override" : "override",
    (d) => {
      const overrides = { ...d.overrides };
      if (value === null) delete overrides[userId];
      else overrides[userId] = value;
      return { ...d, overrides };
    },
    { note: userId },
  );
}

/** The kill switch: the flag is off for everyone (reason DISABLED) until unkilled. */
export function killFlag(key: string, reason: string | undefined, actor: string): Promise<VersionedFlag> {
  return change(key, actor, "kill", (d) => ({ ...d, killed: true, kill_reason: reason ?? null }), {
    note: reason,
  });
}

/** Lifts the kill switch; the flag evaluates as before it was killed. */
export function unkillFlag(key: string, actor: string): Promise<VersionedFlag> {
  return change(key, actor, "unkill", (d) => ({ ...d, killed: false, kill_reason: null }));
}

/**
 * Restores the definition of an earlier version (0 = the built-in one) as a new version, so the
 * rollback itself is in history and can be undone the same way.
 */
export async function rollbackFlag(key: string, version: number, actor: string): Promise<VersionedFlag> {
  await getFlag(key);
  const definition = await readVersion(key, version);
  if (!definition) throw new AppError("NOT_FOUND", `Flag ${key} has no version ${version}`);
  return change(key, actor, "rollback", () => definition, { note: `to version ${version}` });
}

/** The flag's versions, newest first. */
export async function flagHistory(key: string, limit = 20): Promise<HistoryEntry[]> {
  await getFlag(key);
  return readHistory(key, limit);
}
