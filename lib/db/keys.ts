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
};
