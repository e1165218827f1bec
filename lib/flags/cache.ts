import type { AuthUser } from "#lib/auth";
import { config } from "#lib/config";
import { type CompiledFlag, compileFlag } from "#lib/flags/evaluate";
import { loadFlags } from "#lib/flags/store";
import { describeError, log } from "#lib/log";
import type { PlanName } from "#lib/plans";
import { getOrCreateProfile } from "#lib/profile";

/**
 * Per-instance memory of flag definitions and of users' plans, each kept FLAGS_CACHE_SECONDS
 * (at most 15 s). That bound is the promise of a kill switch: every warm instance reloads the
 * definitions within it. A warm request inside the window reads nothing from DynamoDB.
 */

interface FlagsSnapshot {
  loadedAt: number;
  flags: ReadonlyMap<string, CompiledFlag>;
}

let snapshot: FlagsSnapshot | undefined;
let loading: Promise<FlagsSnapshot> | undefined;
/** After a failed reload, the stale snapshot is served until this instant (a short back-off). */
let retryAt = 0;
const RETRY_BACKOFF_MS = 1_000;
/** Bumped by clearFlagCache, so a load that started before a local change does not become current. */
let generation = 0;

async function reload(now: number): Promise<FlagsSnapshot> {
  const started = generation;
  const flags = await loadFlags();
  const next = { loadedAt: now, flags: new Map(flags.map((f) => [f.key, compileFlag(f)])) };
  if (started === generation) snapshot = next;
  return next;
}

/**
 * Every flag, compiled, from memory when loaded less than `ttlSeconds` ago. Concurrent callers
 * share one load. When a reload fails and an older snapshot exists, the older one is served (and
 * the reload retried a second later): a database hiccup must not switch features back to their
 * built-in defaults, which could undo a kill switch. With no snapshot at all, the error is thrown
 * (503 to the caller).
 */
export async function cachedFlags(
  now = Date.now(),
  ttlSeconds = config.FLAGS_CACHE_SECONDS,
): Promise<ReadonlyMap<string, CompiledFlag>> {
  const current = snapshot;
  if (current && now - current.loadedAt < ttlSeconds * 1000) return current.flags;
  if (current && now < retryAt) return current.flags;
  if (!loading) {
    const started = reload(now).finally(() => {
      if (loading === started) loading = undefined;
    });
    loading = started;
  }
  try {
    return (await loading).flags;
  } catch (error) {
    if (!current) throw error;
    retryAt = now + RETRY_BACKOFF_MS;
    log("error", "flag reload failed; serving the previous definitions", describeError(error));
    return current.flags;
  }
}

const MAX_CACHED_PLANS = 10_000;
const plans = new Map<string, { plan: PlanName; at: number }>();

/**
 * The user's plan from their profile (the same record quotas enforce, so flags and limits agree),
 * kept for `ttlSeconds`: a user polling /users/features costs one profile read per window, not
 * one per request. Not the token's `plan` claim: that only seeds a new profile and goes stale
 * when the plan changes. The map is bounded; the oldest entries go first.
 */
export async function cachedPlan(
  user: AuthUser,
  now = Date.now(),
  ttlSeconds = config.FLAGS_CACHE_SECONDS,
): Promise<PlanName> {
  const hit = plans.get(user.id);
  if (hit && now - hit.at < ttlSeconds * 1000) return hit.plan;
  const { plan } = await getOrCreateProfile(user, new Date(now));
  plans.delete(user.id);
  plans.set(user.id, { plan, at: now });
  if (plans.size > MAX_CACHED_PLANS) {
    const oldest = plans.keys().next().value;
    if (oldest !== undefined) plans.delete(oldest);
  }
  return plan;
}

/** Forgets cached definitions (after a change made in this process) and, with `plans`, users' plans. */
export function clearFlagCache(options: { plans?: boolean } = {}): void {
  snapshot = undefined;
  loading = undefined;
  retryAt = 0;
  generation++;
  if (options.plans) plans.clear();
}
