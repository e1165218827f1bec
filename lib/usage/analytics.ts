import { QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import type { AuthUser } from "#lib/auth";
import { db, TABLE } from "#lib/db/client";
import { keys } from "#lib/db/keys";
import { getOrCreateProfile } from "#lib/profile";
import { dailyCreditsFromQuotaItem } from "#lib/quotas";
import { addDays, localDate } from "#lib/time";
import { addCounts, countsFromItem, type DayCounts, emptyCounts } from "#lib/usage/rollup";

/** Periods the dashboard offers, in local days ending today (`24h` is today, the running day). */
export const PERIOD_DAYS = { "24h": 1, "7d": 7, "30d": 30, "90d": 90 } as const;
export const Period = z.enum(["24h", "7d", "30d", "90d"]);
export type Period = z.infer<typeof Period>;

/** The analytics request, from the query string (GET, POST) or a JSON body (POST). */
export const AnalyticsQuery = z.object({ period: Period.default("7d") });
export const AnalyticsBody = z.strictObject({ period: Period.optional() }).optional();

/** The quota counter's per-day attributes (d01..d31): all `credit_usage` needs of a month item. */
const DAY_ATTRIBUTES = Array.from({ length: 31 }, (_, i) => `d${String(i + 1).padStart(2, "0")}`);

/** Domains listed by name in `top_domains`; the rest is summed into one `other` entry. */
export const TOP_DOMAINS = 10;

export interface DayUpgrades {
  date: string;
  count: number;
  successes: number;
  /** True for today: the day is still running. */
  partial: boolean;
}

export interface DayCredits {
  date: string;
  credits: number;
  partial: boolean;
}

export interface DomainShare {
  domain: string;
  count: number;
  /** Fraction of the period's events (0..1, 4 decimals). */
  share: number;
  /** True for the bucket that sums every domain past the top ten. */
  other?: true;
}

export interface Totals {
  upgrades: number;
  successes: number;
  success_rate: number;
  /** Mean improvement score of the scored events (0 when none was scored). */
  avg_improvement_score: number;
  scored: number;
  /** Credits charged by consume in the period (quota counters): what the user paid. */
  credits_charged: number;
  /** Credits the events reported (informational; never charged). */
  credits_reported: number;
  active_days: number;
  by_technique: Record<string, number>;
  by_type: Record<string, number>;
}

export interface Analytics {
  period: Period;
  timezone: string;
  /** First and last local day of the period (the last is today). */
  start_date: string;
  end_date: string;
  daily_upgrades: DayUpgrades[];
  credit_usage: DayCredits[];
  top_domains: DomainShare[];
  success_rate: number;
  avg_improvement_score: number;
  totals: Totals;
  previous_period: { start_date: string; end_date: string; totals: Totals };
  generated_at: string;
}

/**
 * The dashboard's analytics for a period (POST/GET /users/usage/analytics), read from the daily
 * rollups and the quota counters only: ONE Query over the user's rollups of the period and the
 * previous one (2 × period days), ONE Query over the quota months they span, run in parallel
 * with the profile read. The profile's timezone is not known before the reads, so both ranges
 * are widened by a day on each side of the UTC dates (every timezone's today is within one day
 * of UTC's) and trimmed afterwards. Series have one entry per local day, oldest first,
 * zero-filled, today marked partial.
 */
export async function getAnalytics(user: AuthUser, period: Period, now = new Date()): Promise<Analytics> {
  const span = PERIOD_DAYS[period];
  const utcToday = localDate(now, "UTC");
  const readFrom = addDays(utcToday, -2 * span);
  const readTo = addDays(utcToday, 1);
  const [profile, rollupItems, quotaItems] = await Promise.all([
    getOrCreateProfile(user, now),
    queryAll({
      TableName: TABLE,
      KeyConditionExpression: "PK = :pk AND SK BETWEEN :from AND :to",
      ExpressionAttributeValues: {
        ":pk": keys.userPartition(user.id),
        ":from": keys.usageRollup(user.id, readFrom).SK,
        ":to": keys.usageRollup(user.id, readTo).SK,
      },
    }),
    queryAll({
      TableName: TABLE,
      KeyConditionExpression: "PK = :pk AND SK BETWEEN :from AND :to",
      ProjectionExpression: ["SK", ...DAY_ATTRIBUTES].join(", "),
      ExpressionAttributeValues: {
        ":pk": keys.userPartition(user.id),
        ":from": keys.quotaMonth(user.id, readFrom.slice(0, 7)).SK,
        ":to": keys.quotaMonth(user.id, readTo.slice(0, 7)).SK,
      },
    }),
  ]);

  const timeZone = profile.timezone;
  const today = localDate(now, timeZone);
  const start = addDays(today, -(span - 1));
  const previousStart = addDays(today, -(2 * span - 1));
  const previousEnd = addDays(start, -1);

  const byDay = new Map<string, DayCounts>();
  for (const item of rollupItems) {
    const day = typeof item.SK === "string" ? item.SK.slice(-10) : "";
    if (keys.usageRollup(user.id, day).SK === item.SK) byDay.set(day, countsFromItem(item));
  }
  const credits = new Map<string, number>();
  for (const item of quotaItems) {
    for (const [day, value] of Object.entries(dailyCreditsFromQuotaItem(item))) credits.set(day, value);
  }

  const days = (first: string, count: number) => Array.from({ length: count }, (_, i) => addDays(first, i));
  const current = days(start, span);
  const previous = days(previousStart, span);
  const totals = totalsOf(current, byDay, credits);
  const domains = current.reduce(
    (acc, d) => addCounts(acc, byDay.get(d) ?? emptyCounts()),
    emptyCounts(),
  ).domains;

  return {
    period,
    timezone: timeZone,
    start_date: start,
    end_date: today,
    daily_upgrades: current.map((date) => ({
      date,
      count: byDay.get(date)?.events ?? 0,
      successes: byDay.get(date)?.successes ?? 0,
      partial: date === today,
    })),
    credit_usage: current.map((date) => ({ date, credits: credits.get(date) ?? 0, partial: date === today })),
    top_domains: topDomains(domains),
    success_rate: totals.success_rate,
    avg_improvement_score: totals.avg_improvement_score,
    totals,
    previous_period: {
      start_date: previousStart,
      end_date: previousEnd,
      totals: totalsOf(previous, byDay, credits),
    },
    generated_at: now.toISOString(),
  };
}

const round = (value: number, places: number) => Math.round(value * 10 ** places) / 10 ** places;

function totalsOf(days: string[], byDay: Map<string, DayCounts>, credits: Map<string, number>): Totals {
  const sum = emptyCounts();
  let activeDays = 0;
  let charged = 0;
  for (const day of days) {
    const counts = byDay.get(day);
    if (counts && counts.events > 0) activeDays++;
    if (counts) addCounts(sum, counts);
    charged += credits.get(day) ?? 0;
  }
  return {
    upgrades: sum.events,
    successes: sum.successes,
    success_rate: sum.events > 0 ? round(sum.successes / sum.events, 4) : 0,
    avg_improvement_score: sum.scored > 0 ? round(sum.scoreSum / 100 / sum.scored, 2) : 0,
    scored: sum.scored,
    credits_charged: charged,
    credits_reported: sum.credits,
    active_days: activeDays,
    by_technique: sum.techniques,
    by_type: sum.types,
  };
}

/** The ten most used domains (ties by name), then one `other` entry for the rest when there is a rest. */
export function topDomains(domains: Record<string, number>): DomainShare[] {
  const entries = Object.entries(domains).filter(([, count]) => count > 0);
  const total = entries.reduce((acc, [, count]) => acc + count, 0);
  entries.sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0));
  const share = (count: number) => (total > 0 ? round(count / total, 4) : 0);
  const top: DomainShare[] = entries
    .slice(0, TOP_DOMAINS)
    .map(([domain, count]) => ({ domain, count, share: share(count) }));
  const rest = entries.slice(TOP_DOMAINS).reduce((acc, [, count]) => acc + count, 0);
  if (rest > 0) top.push({ domain: "other", count: rest, share: share(rest), other: true });
  return top;
}

/** Every page of a Query (one page unless the items pass DynamoDB's 1 MB page size). */
async function queryAll(input: QueryCommandInput): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}
