import { GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { AuthUser } from "#lib/auth";
import { config } from "#lib/config";
import { db, TABLE } from "#lib/db/client";
import { isConditionFailed } from "#lib/db/errors";
import { keys } from "#lib/db/keys";
import { PLANS, type PlanName } from "#lib/plans";
import { isValidTimeZone } from "#lib/time";

/** What we keep about a user: plan, timezone (their days are our days) and limit overrides. */
export interface Profile {
  user_id: string;
  plan: PlanName;
  /** IANA timezone; quota days and usage rollups follow it. */
  timezone: string;
  overrides?: { daily_limit?: number; monthly_limit?: number };
  created_at: string;
  /**
   * Revision, raised by every change (plan, overrides, timezone). Quota counters remember the
   * highest revision that charged them, so a charge made from an outdated cached profile is
   * refused and retried with the current one (see lib/quotas).
   */
  rev: number;
}

/** A stored profile item as a Profile; unknown plans read as `free`, bad timezones as `UTC`. */
export function profileFromItem(userId: string, item: Record<string, unknown>): Profile {
  const plan = typeof item.plan === "string" && item.plan in PLANS ? (item.plan as PlanName) : "free";
  const timezone =
    typeof item.timezone === "string" && isValidTimeZone(item.timezone) ? item.timezone : "UTC";
  return {
    user_id: userId,
    plan,
    timezone,
    overrides: item.overrides as Profile["overrides"],
    created_at: String(item.created_at ?? ""),
    rev: typeof item.rev === "number" ? item.rev : 0,
  };
}

/**
 * Profiles this warm instance read lately, so that a consume needs one DynamoDB request, not two.
 * Bounded in size and age; correctness never rests on it: a stale entry is detected by the
 * revision check of the charge itself (a plan change stamps the counters with its revision).
 */
const cache = new Map<string, { profile: Profile; at: number }>();
const CACHE_MAX_ENTRIES = 10_000;

/** The cached profile of a user, when read within PROFILE_CACHE_SECONDS. */
export function cachedProfile(userId: string, now: Date): Profile | undefined {
  const hit = cache.get(userId);
  if (!hit) return undefined;
  if (now.getTime() - hit.at > config.PROFILE_CACHE_SECONDS * 1000) {
    cache.delete(userId);
    return undefined;
  }
  return hit.profile;
}

/** Remembers a profile just read from the table (oldest entries leave first past the bound). */
export function rememberProfile(profile: Profile, now: Date): void {
  cache.delete(profile.user_id);
  if (cache.size >= CACHE_MAX_ENTRIES) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(profile.user_id, { profile, at: now.getTime() });
}

/** Forgets a cached profile (after a change made in this process, and in tests). */
export function forgetProfile(userId?: string): void {
  if (userId === undefined) cache.clear();
  else cache.delete(userId);
}

/**
 * Creates the profile of a user seen for the first time: plan from the token's `plan` claim when it
 * names a known plan, else `free`; timezone UTC. A conditional put, so two first requests racing
 * agree on one profile (the loser reads the winner's).
 */
export async function createProfile(user: AuthUser, now = new Date()): Promise<Profile> {
  const key = keys.userProfile(user.id);
  const plan: PlanName = user.plan && user.plan in PLANS ? (user.plan as PlanName) : "free";
  const item = { ...key, plan, timezone: "UTC", created_at: now.toISOString(), rev: 0 };
  try {
    await db.send(
      new PutCommand({ TableName: TABLE, Item: item, ConditionExpression: "attribute_not_exists(PK)" }),
    );
    const profile = profileFromItem(user.id, item);
    rememberProfile(profile, now);
    return profile;
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
    const again = await db.send(new GetCommand({ TableName: TABLE, Key: key, ConsistentRead: true }));
    const profile = profileFromItem(user.id, again.Item ?? item);
    rememberProfile(profile, now);
    return profile;
  }
}

/**
 * The user's profile, created on first use (see createProfile). Always reads the table (one
 * GetItem), so a caller sees a plan change at once.
 */
export async function getOrCreateProfile(user: AuthUser, now = new Date()): Promise<Profile> {
  const { Item } = await db.send(new GetCommand({ TableName: TABLE, Key: keys.userProfile(user.id) }));
  if (!Item) return createProfile(user, now);
  const profile = profileFromItem(user.id, Item);
  rememberProfile(profile, now);
  return profile;
}

export interface ProfileChange {
  plan?: PlanName;
  timezone?: string;
  /** `null` removes the overrides. */
  overrides?: Profile["overrides"] | null;
}

/**
 * Changes a profile (support commands), creating it when missing, and raises its revision.
 * Callers that cache limits (lib/quotas) must then stamp the new revision on the counters.
 */
export async function updateProfile(
  userId: string,
  change: ProfileChange,
  now = new Date(),
): Promise<Profile> {
  if (change.timezone !== undefined && !isValidTimeZone(change.timezone)) {
    throw new Error(`unknown timezone: ${change.timezone}`);
  }
  const sets = ["created_at = if_not_exists(created_at, :now)", "updated_at = :now"];
  const removes: string[] = [];
  const values: Record<string, unknown> = { ":now": now.toISOString(), ":one": 1 };
  const names: Record<string, string> = {};
  if (change.plan !== undefined) {
    sets.push("#plan = :plan");
    names["#plan"] = "plan";
    values[":plan"] = change.plan;
  } else {
    sets.push("#plan = if_not_exists(#plan, :free)");
    names["#plan"] = "plan";
    values[":free"] = "free";
  }
  names["#tz"] = "timezone";
  values[":tz"] = change.timezone ?? "UTC";
  sets.push(change.timezone !== undefined ? "#tz = :tz" : "#tz = if_not_exists(#tz, :tz)");
  if (change.overrides === null) removes.push("overrides");
  else if (change.overrides !== undefined) {
    sets.push("overrides = :ov");
    values[":ov"] = change.overrides;
  }
  const { Attributes } = await db.send(
    new UpdateCommand({
      TableName: TABLE,
      Key: keys.userProfile(userId),
      UpdateExpression: `SET ${sets.join(", ")}${removes.length ? ` REMOVE ${removes.join(", ")}` : ""} ADD rev :one`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ReturnValues: "ALL_NEW",
    }),
  );
  forgetProfile(userId);
  return profileFromItem(userId, Attributes ?? {});
}
