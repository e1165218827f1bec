import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { AuthUser } from "#lib/auth";
import { db, TABLE } from "#lib/db/client";
import { isConditionFailed } from "#lib/db/errors";
import { keys } from "#lib/db/keys";
import { PLANS, type PlanName } from "#lib/plans";

/** What we keep about a user: plan, timezone (their days are our days) and limit overrides. */
export interface Profile {
  user_id: string;
  plan: PlanName;
  /** IANA timezone; quota days and usage rollups follow it. */
  timezone: string;
  overrides?: { daily_limit?: number; monthly_limit?: number };
  created_at: string;
}

function fromItem(userId: string, item: Record<string, unknown>): Profile {
  const plan = typeof item.plan === "string" && item.plan in PLANS ? (item.plan as PlanName) : "free";
  return {
    user_id: userId,
    plan,
    timezone: typeof item.timezone === "string" ? item.timezone : "UTC",
    overrides: item.overrides as Profile["overrides"],
    created_at: String(item.created_at ?? ""),
  };
}

/**
 * The user's profile, created on first use: the plan comes from the token's `plan` claim when it
 * names a known plan, else `free`. Creation is a conditional put, so two first requests racing
 * agree on one profile.
 */
export async function getOrCreateProfile(user: AuthUser, now = new Date()): Promise<Profile> {
  const key = keys.userProfile(user.id);
  const { Item } = await db.send(new GetCommand({ TableName: TABLE, Key: key }));
  if (Item) return fromItem(user.id, Item);
  const plan: PlanName = user.plan && user.plan in PLANS ? (user.plan as PlanName) : "free";
  const item = { ...key, plan, timezone: "UTC", created_at: now.toISOString() };
  try {
    await db.send(
      new PutCommand({ TableName: TABLE, Item: item, ConditionExpression: "attribute_not_exists(PK)" }),
    );
    return fromItem(user.id, item);
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
    const again = await db.send(new GetCommand({ TableName: TABLE, Key: key, ConsistentRead: true }));
    return fromItem(user.id, again.Item ?? item);
  }
}
