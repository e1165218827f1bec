import { createHash } from "node:crypto";

/** Number of rollout buckets: a percentage with two decimals maps to a whole number of buckets. */
export const BUCKETS = 10_000;

/**
 * The rollout bucket of a user for a flag, in [0, BUCKETS): the first 32 bits of
 * SHA-256(flag key, NUL, user id), modulo BUCKETS. The same pair always lands in the same bucket
 * on every instance and every deploy, and a user is in a rollout of p % when the bucket is below
 * p × 100, so raising the percentage only ever adds users. Hashing the flag key in too makes the
 * buckets of different flags independent (the same 10 % do not get every new feature first).
 */
export function bucketOf(flagKey: string, userId: string): number {
  const digest = createHash("sha256").update(flagKey).update("\0").update(userId).digest();
  return digest.readUInt32BE(0) % BUCKETS;
}

/** True when a user's bucket is inside a rollout of `percentage` (0 to 100, two decimals). */
export function inRollout(flagKey: string, userId: string, percentage: number): boolean {
  return bucketOf(flagKey, userId) < Math.round(percentage * (BUCKETS / 100));
}
