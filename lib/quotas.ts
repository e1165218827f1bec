import { BatchGetCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import type { AuthUser } from "#lib/auth";
import { config } from "#lib/config";
import { db, TABLE } from "#lib/db/client";
import { isConditionFailed } from "#lib/db/errors";
import { type Key, keys } from "#lib/db/keys";
import { AppError } from "#lib/errors";
import { ACTION_PRICES, Action, higherPlans, PLANS, type Plan, type PlanName } from "#lib/plans";
import {
  cachedProfile,
  createProfile,
  type Profile,
  type ProfileChange,
  profileFromItem,
  rememberProfile,
  updateProfile,
} from "#lib/profile";
import { addMonths, localDate, localMonth, nextLocalMidnight, nextLocalMonthStart } from "#lib/time";

/*
 * Quotas: how it works.
 *
 * One item per user per local month (`keys.quotaMonth`) carries both windows: `m` (credits used this
 * month) and `dDD` (credits used on local day DD). Windows are keyed by the calendar, so a new day
 * or month simply starts at zero: nothing has to run at midnight and idle users cost nothing.
 *
 * A consume is ONE conditional UpdateItem on that item: `ADD m :c, dDD :c` under the condition
 * `m <= monthly_limit - c AND dDD <= daily_limit - c` (each also true when the attribute is
 * missing). DynamoDB checks the condition against the item before the update and applies
 * updates of one item one at a time, so concurrent consumes can never pass a cap together.
 *
 * Idempotency lives in the same write: the item holds a ring of 12 maps `i00..i11`, one per
 * 10-minute slot of the clock; a consume records its key in the current slot's map and its
 * condition requires the key to be absent from the 6 most recent slots, and it empties the slot
 * 60 minutes old. Charge and record are one single-item write, so a crash can never leave a
 * charge without its record (a retry would charge twice) or a record without its charge.
 *
 * The counter's key and caps depend on the profile (timezone, plan, overrides). current and check
 * read profile and counter in one BatchGetItem; consume uses the profile this instance cached and
 * guards it with the profile's revision (`pv <= :rev` in the same condition; a support change
 * stamps the new revision on the counter), so a stale cache is refused, re-read and retried.
 */

/** Minutes per slot of the idempotency-key ring. */
const SLOT_MINUTES = 10;
/** Slots in the ring; half are live (checked), the other half are a buffer for clock skew. */
const RING_SLOTS = 12;
const LIVE_SLOTS = 6;
/** How long a consume key is remembered, at least (retries within it never charge twice). */
export const IDEMPOTENCY_WINDOW_MINUTES = SLOT_MINUTES * (LIVE_SLOTS - 1);
/** Attempts of a consume or release whose condition failed for a reason that may pass on retry. */
const MAX_ATTEMPTS = 4;

/** A client-chosen idempotency key: printable, no spaces, at most 128 characters. */
export const ConsumeKey = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:~-]+$/, "use letters, digits and . _ : ~ - only");

/** Credits a check asks about: at most the biggest plan's monthly limit. */
const Credits = z.coerce.number().int().min(1).max(1_000_000);

/**
 * Body or query of POST /users/limits/check (both accepted, as the FastAPI route did; a body
 * field wins over the same query field). `action` defaults to `upgrade`, `credits_required` to
 * the action's price (1 for `upgrade`).
 */
export const CheckRequest = z.object({ action: Action.optional(), credits_required: Credits.optional() });
export type CheckRequest = z.infer<typeof CheckRequest>;

/** The check request of a query and a body, each already validated by CheckRequest. */
export function checkRequestOf(
  query: CheckRequest | undefined,
  body: CheckRequest | undefined,
): CheckRequest {
  return {
    action: body?.action ?? query?.action,
    credits_required: body?.credits_required ?? query?.credits_required,
  };
}

/**
 * The idempotency key of a consume or release: the `Idempotency-Key` header or the body's
 * `request_id` (422 when malformed, or when both are given and differ).
 */
export function consumeKeyOf(header: string | undefined, requestId: string | undefined): string | undefined {
  if (header === undefined) return requestId;
  const parsed = ConsumeKey.safeParse(header);
  if (!parsed.success) {
    throw new AppError(
      "VALIDATION_FAILED",
      "Invalid request: header.Idempotency-Key: use 1 to 128 letters, digits and . _ : ~ -",
      {
        extra: {
          errors: [
            {
              loc: ["header", "Idempotency-Key"],
              msg: parsed.error.issues[0]?.message ?? "invalid",
              type: "invalid_format",
            },
          ],
        },
      },
    );
  }
  if (requestId !== undefined && requestId !== parsed.data) {
    throw new AppError("VALIDATION_FAILED", "Invalid request: Idempotency-Key and body.request_id differ", {
      extra: {
        errors: [
          { loc: ["body", "request_id"], msg: "differs from the Idempotency-Key header", type: "mismatch" },
        ],
      },
    });
  }
  return parsed.data;
}

/** Body of POST /users/limits/consume. */
export const ConsumeRequest = z.object({ action: Action, request_id: ConsumeKey.optional() });
/** Body of POST /users/limits/release. */
export const ReleaseRequest = z.object({ request_id: ConsumeKey.optional() });

export type WindowName = "daily" | "monthly";
export type DenyReason = "daily_limit_reached" | "monthly_limit_reached";

/** The limits that apply to a profile: its plan's, unless support set overrides. */
export interface Limits {
  plan: PlanName;
  daily_limit: number;
  monthly_limit: number;
}

/** The limits of a profile (overrides win over the plan's values). */
export function limitsOf(profile: Pick<Profile, "plan" | "overrides">): Limits {
  const plan = PLANS[profile.plan];
  return {
    plan: plan.name,
    daily_limit: profile.overrides?.daily_limit ?? plan.daily_limit,
    monthly_limit: profile.overrides?.monthly_limit ?? plan.monthly_limit,
  };
}

/** Where an instant falls in a user's calendar: the day and month windows and their ends. */
export interface Windows {
  timezone: string;
  /** Local date `YYYY-MM-DD`. */
  date: string;
  /** Local month `YYYY-MM` (the counter item's month). */
  month: string;
  /** Counter attribute of the local day (`d01`..`d31`). */
  dayAttribute: string;
  dayResetsAt: Date;
  monthResetsAt: Date;
}

/** The windows of an instant in a timezone. */
export function windowsAt(now: Date, timezone: string): Windows {
  const date = localDate(now, timezone);
  return {
    timezone,
    date,
    month: date.slice(0, 7),
    dayAttribute: `d${date.slice(8, 10)}`,
    dayResetsAt: nextLocalMidnight(now, timezone),
    monthResetsAt: nextLocalMonthStart(now, timezone),
  };
}

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

/** Credits used in the day and month windows, read from a month counter item (or none). */
export function usageOf(item: Record<string, unknown> | undefined, w: Windows) {
  return { daily_used: num(item?.[w.dayAttribute]), monthly_used: num(item?.m) };
}

/**
 * The credits charged per local day, from a month counter item (SK `QUOTA#YYYY-MM`, attributes
 * `d01`..`d31`): `{ "2026-12-03": 7, ... }`, only days with an attribute. The usage module reads
 * its `credit_usage` series through this, so the dashboard shows exactly what was charged.
 */
export function dailyCreditsFromQuotaItem(item: Record<string, unknown>): Record<string, number> {
  const month = /^QUOTA#(\d{4}-\d{2})$/.exec(String(item.SK ?? ""))?.[1];
  const out: Record<string, number> = {};
  if (!month) return out;
  const [y, mo] = month.split("-").map(Number) as [number, number];
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  for (const [name, value] of Object.entries(item)) {
    const day = /^d(\d{2})$/.exec(name)?.[1];
    if (!day || Number(day) < 1 || Number(day) > daysInMonth) continue;
    out[`${month}-${day}`] = num(value);
  }
  return out;
}

/** The answer to "may this user spend `cost` credits now?" (no side effect). */
export interface Decision {
  allowed: boolean;
  remaining_credits: number;
  daily_remaining: number;
  monthly_remaining: number;
  /** True when refused and a higher plan's limits would allow it. */
  upgrade_required: boolean;
  reason?: DenyReason;
  /** When refused: the instant the refusing window resets (the later one when both refuse). */
  resets_at?: string;
}

/** Decides a request of `cost` credits against limits and usage, in the given windows. */
export function decide(
  limits: Limits,
  usage: { daily_used: number; monthly_used: number },
  cost: number,
  w: Windows,
): Decision {
  const daily_remaining = Math.max(0, limits.daily_limit - usage.daily_used);
  const monthly_remaining = Math.max(0, limits.monthly_limit - usage.monthly_used);
  const dayOk = cost <= daily_remaining;
  const monthOk = cost <= monthly_remaining;
  const base = {
    remaining_credits: Math.min(daily_remaining, monthly_remaining),
    daily_remaining,
    monthly_remaining,
  };
  if (dayOk && monthOk) return { allowed: true, ...base, upgrade_required: false };
  const allowsIt = (p: Plan) =>
    usage.daily_used + cost <= p.daily_limit && usage.monthly_used + cost <= p.monthly_limit;
  return {
    allowed: false,
    ...base,
    upgrade_required: higherPlans(PLANS[limits.plan]).some(allowsIt),
    reason: monthOk ? "daily_limit_reached" : "monthly_limit_reached",
    resets_at: (monthOk ? w.dayResetsAt : w.monthResetsAt).toISOString(),
  };
}

/* ------------------------------------------------------------------ reading: one request */

/** Every month a local date can be in right now, whatever the timezone (UTC-12 to UTC+14). */
function candidateMonths(instant: Date): string[] {
  return [...new Set([localMonth(instant, "Etc/GMT+12"), localMonth(instant, "Etc/GMT-14")])];
}

interface UserState {
  profile: Profile;
  /** Month counter items read, by month `YYYY-MM`. */
  months: Map<string, Record<string, unknown>>;
}

/**
 * Reads a user's profile and month counters in ONE BatchGetItem (strongly consistent): the
 * counter's key depends on the profile's timezone, which is not known before the read, so the
 * read asks for every month the local date can be in now (one, or two near a month's end),
 * plus those of `alsoAt` (used to find recent keys across a month boundary). A missing profile
 * is created (first use only).
 */
async function readUserState(user: AuthUser, now: Date, alsoAt?: Date): Promise<UserState> {
  const months = [...new Set([...candidateMonths(now), ...(alsoAt ? candidateMonths(alsoAt) : [])])];
  let pending: Key[] = [keys.userProfile(user.id), ...months.map((m) => keys.quotaMonth(user.id, m))];
  const found: Record<string, unknown>[] = [];
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
    if (attempt > 4)
      throw new AppError("UNAVAILABLE", "The service is busy; try again shortly", {
        headers: { "Retry-After": "1" },
      });
    const out = await db.send(
      new BatchGetCommand({ RequestItems: { [TABLE]: { Keys: pending, ConsistentRead: true } } }),
    );
    found.push(...(out.Responses?.[TABLE] ?? []));
    pending = (out.UnprocessedKeys?.[TABLE]?.Keys ?? []) as Key[];
  }
  const profileSk = keys.userProfile(user.id).SK;
  const profileItem = found.find((i) => i.SK === profileSk);
  const profile = profileItem ? profileFromItem(user.id, profileItem) : await createProfile(user, now);
  if (profileItem) rememberProfile(profile, now);
  const byMonth = new Map<string, Record<string, unknown>>();
  for (const item of found) {
    const month = /^QUOTA#(\d{4}-\d{2})$/.exec(String(item.SK))?.[1];
    if (month) byMonth.set(month, item);
  }
  return { profile, months: byMonth };
}

/** GET /users/limits/current: plan, limits, usage and resets of both windows. */
export interface LimitsReport {
  plan: PlanName;
  timezone: string;
  daily_limit: number;
  daily_used: number;
  daily_remaining: number;
  monthly_limit: number;
  monthly_used: number;
  monthly_remaining: number;
  remaining_credits: number;
  /** Next local midnight (ISO instant): when the daily window resets. */
  resets_at: string;
  monthly_resets_at: string;
  /** The window with fewer credits left (monthly on a tie: it resets later). */
  binding_window: WindowName;
}

function reportOf(profile: Profile, item: Record<string, unknown> | undefined, w: Windows): LimitsReport {
  const limits = limitsOf(profile);
  const usage = usageOf(item, w);
  const daily_remaining = Math.max(0, limits.daily_limit - usage.daily_used);
  const monthly_remaining = Math.max(0, limits.monthly_limit - usage.monthly_used);
  return {
    plan: limits.plan,
    timezone: profile.timezone,
    daily_limit: limits.daily_limit,
    daily_used: usage.daily_used,
    daily_remaining,
    monthly_limit: limits.monthly_limit,
    monthly_used: usage.monthly_used,
    monthly_remaining,
    remaining_credits: Math.min(daily_remaining, monthly_remaining),
    resets_at: w.dayResetsAt.toISOString(),
    monthly_resets_at: w.monthResetsAt.toISOString(),
    binding_window: monthly_remaining <= daily_remaining ? "monthly" : "daily",
  };
}

/** The caller's limits and usage now. One DynamoDB request (plus a write on first use). */
export async function currentLimits(user: AuthUser, now: Date): Promise<LimitsReport> {
  const state = await readUserState(user, now);
  const w = windowsAt(now, state.profile.timezone);
  return reportOf(state.profile, state.months.get(w.month), w);
}

export interface CheckResult extends Decision {
  action: Action;
  credits_required: number;
}

/**
 * POST /users/limits/check: would `credits_required` (default: the action's price) be allowed
 * now? Consumes nothing. One DynamoDB request.
 */
export async function checkLimits(user: AuthUser, request: CheckRequest, now: Date): Promise<CheckResult> {
  const action = request.action ?? "upgrade";
  const cost = request.credits_required ?? ACTION_PRICES[action];
  const state = await readUserState(user, now);
  const w = windowsAt(now, state.profile.timezone);
  const decision = decide(limitsOf(state.profile), usageOf(state.months.get(w.month), w), cost, w);
  return { action, credits_required: cost, ...decision };
}

/* ------------------------------------------------------------------ consume */

/** What the ring remembers of one consume. */
interface KeyRecord {
  /** Action charged. */
  a: string;
  /** Credits charged. */
  c: number;
  /** Counter attribute of the day charged (`d03`). */
  d: string;
  /** Charge time, epoch ms. */
  t: number;
  /** Release time, epoch ms, once refunded. */
  r?: number;
}

const slotName = (index: number) =>
  `i${String(((index % RING_SLOTS) + RING_SLOTS) % RING_SLOTS).padStart(2, "0")}`;
const slotIndex = (now: Date) => Math.floor(now.getTime() / (SLOT_MINUTES * 60_000));
const ALL_SLOTS = Array.from({ length: RING_SLOTS }, (_, i) => slotName(i));

/**
 * The record of a key in the live slots of a month item's ring (the slots a consume's condition
 * checks at `now`), with the slot that holds it.
 */
function findKey(item: Record<string, unknown> | undefined, key: string, now: Date) {
  if (!item) return undefined;
  const current = slotIndex(now);
  for (let i = 0; i < LIVE_SLOTS; i++) {
    const slot = slotName(current - i);
    const map = item[slot] as Record<string, KeyRecord> | undefined;
    const record = map?.[key];
    if (record && typeof record === "object") return { slot, record };
  }
  return undefined;
}

/** Small stable hash of a user id, for the GSI1 shard. */
function shardOf(userId: string, shards = config.QUOTA_ACTIVE_SHARDS): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) h = Math.imul(h ^ userId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % shards;
}

/** Epoch seconds after which a month's counter may go (TTL on AWS; the reset job deletes it too). */
export function counterExpiry(month: string, retentionMonths = config.QUOTA_RETENTION_MONTHS): number {
  const [y, m] = addMonths(month, retentionMonths + 1)
    .split("-")
    .map(Number) as [number, number];
  return Date.UTC(y, m - 1, 1) / 1000;
}

export interface ConsumeResult extends Decision {
  allowed: true;
  action: Action;
  /** Credits charged by the original consume of this key. */
  charged: number;
  /** The key to pass to release; generated when the caller gave none. */
  consume_key: string;
  /** True when this key had already been charged: nothing was charged now. */
  replayed: boolean;
  /** When replayed: whether that charge has been released since. */
  released?: boolean;
}

function quotaExceeded(action: Action, cost: number, decision: Decision, now: Date): AppError {
  const resetsAt = decision.resets_at ? Date.parse(decision.resets_at) : now.getTime();
  const retryAfter = Math.max(1, Math.ceil((resetsAt - now.getTime()) / 1000));
  const which = decision.reason === "monthly_limit_reached" ? "monthly" : "daily";
  return new AppError(
    "QUOTA_EXCEEDED",
    `The ${which} credit limit is reached; it resets at ${decision.resets_at}`,
    {
      headers: { "Retry-After": String(retryAfter) },
      extra: { action, credits_required: cost, ...decision },
    },
  );
}

function replayOf(
  action: Action,
  key: string,
  record: KeyRecord,
  profile: Profile,
  item: Record<string, unknown>,
  w: Windows,
): ConsumeResult {
  if (record.a !== action) {
    throw new AppError("CONFLICT", `The key ${key} was used for the action ${record.a}, not ${action}`);
  }
  const decision = decide(limitsOf(profile), usageOf(item, w), 0, w);
  return {
    ...decision,
    allowed: true,
    action,
    charged: record.c,
    consume_key: key,
    replayed: true,
    released: record.r !== undefined,
  };
}

/**
 * POST /users/limits/consume: charges the action's price against both windows at once, or throws
 * QUOTA_EXCEEDED (429 with Retry-After). With a key (Idempotency-Key header or `request_id`), a
 * retry within IDEMPOTENCY_WINDOW_MINUTES returns the original decision and charges nothing.
 *
 * Cost: ONE conditional UpdateItem when the profile is cached in this instance (it is after the
 * user's first request here); a refused charge adds one read to tell "limit reached" from "key
 * already charged" from "profile changed". A charge made with a stale cached profile is refused by
 * the revision condition (`pv <= :rev`), re-read and retried, so a plan change applies at once.
 */
export async function consumeCredits(
  user: AuthUser,
  action: Action,
  givenKey: string | undefined,
  now: Date,
): Promise<ConsumeResult> {
  const cost = ACTION_PRICES[action];
  const key = givenKey ?? crypto.randomUUID();
  const slot = slotIndex(now);
  const windowStart = new Date(now.getTime() - IDEMPOTENCY_WINDOW_MINUTES * 60_000 - SLOT_MINUTES * 60_000);
  let state: UserState | undefined;
  let profile = cachedProfile(user.id, now);
  if (!profile) {
    state = await readUserState(user, now, givenKey ? windowStart : undefined);
    profile = state.profile;
  }
  let checkedPreviousMonth = false;

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const w = windowsAt(now, profile.timezone);
    const limits = limitsOf(profile);

    // A retry of a key charged just before local midnight of a month's last day finds its record
    // in the previous month's item: look there while the new month is younger than the window.
    if (givenKey && !checkedPreviousMonth && localMonth(windowStart, profile.timezone) !== w.month) {
      checkedPreviousMonth = true;
      const previous = localMonth(windowStart, profile.timezone);
      const item =
        state?.months.get(previous) ??
        (
          await db.send(
            new GetCommand({
              TableName: TABLE,
              Key: keys.quotaMonth(user.id, previous),
              ConsistentRead: true,
            }),
          )
        ).Item;
      const hit = findKey(item, key, now);
      if (hit && item) return replayOf(action, key, hit.record, profile, state?.months.get(w.month) ?? {}, w);
    }

    // With a fresh read in hand, decide without writing when the answer is already known.
    if (state) {
      const item = state.months.get(w.month);
      const hit = givenKey ? findKey(item, key, now) : undefined;
      if (hit && item) return replayOf(action, key, hit.record, profile, item, w);
      const decision = decide(limits, usageOf(item, w), cost, w);
      if (!decision.allowed) throw quotaExceeded(action, cost, decision, now);
      // The profile was just read, so it is current even if its revision went back (a deleted
      // and recreated profile): never let an older revision number lock the counter.
      if (num(item?.pv) > profile.rev) {
        profile = { ...profile, rev: num(item?.pv) };
        rememberProfile(profile, now);
      }
    } else if (cost > limits.daily_limit || cost > limits.monthly_limit) {
      state = await readUserState(user, now);
      profile = state.profile;
      continue;
    }

    const record: KeyRecord = { a: action, c: cost, d: w.dayAttribute, t: now.getTime() };
    try {
      const after = await chargeMonthItem(user.id, profile, limits, w, key, record, cost, slot);
      const decision = decide(
        limits,
        { daily_used: num(after[w.dayAttribute]), monthly_used: num(after.m) },
        0,
        w,
      );
      return { ...decision, allowed: true, action, charged: cost, consume_key: key, replayed: false };
    } catch (error) {
      if (error instanceof MonthItemMissing) {
        if (await createMonthItem(user.id, profile, limits, w, key, record, cost, slot)) {
          const decision = decide(limits, { daily_used: cost, monthly_used: cost }, 0, w);
          return { ...decision, allowed: true, action, charged: cost, consume_key: key, replayed: false };
        }
        // The item exists: created meanwhile, or written without the ring (an import, a fixture).
        await ensureRing(user.id, w.month);
        state = undefined;
        continue;
      }
      if (!isConditionFailed(error)) throw error;
      // Limit reached, key already charged, or our profile is older than the counter's: read and see.
      state = await readUserState(user, now);
      profile = state.profile;
    }
  }
  throw new AppError("UNAVAILABLE", "The credit counter is busy; try again shortly", {
    headers: { "Retry-After": "1" },
  });
}

class MonthItemMissing extends Error {}

/** The one conditional UpdateItem of a consume; returns the counters after it. */
async function chargeMonthItem(
  userId: string,
  profile: Profile,
  limits: Limits,
  w: Windows,
  key: string,
  record: KeyRecord,
  cost: number,
  slot: number,
): Promise<Record<string, unknown>> {
  const names: Record<string, string> = {
    "#day": w.dayAttribute,
    "#key": key,
    "#plan": "plan",
    "#clear": slotName(slot - LIVE_SLOTS),
  };
  const keyAbsent: string[] = [];
  for (let i = 0; i < LIVE_SLOTS; i++) {
    names[`#s${i}`] = slotName(slot - i);
    keyAbsent.push(`attribute_not_exists(#s${i}.#key)`);
  }
  try {
    const { Attributes } = await db.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: keys.quotaMonth(userId, w.month),
        // Each cap is written `used <= limit - cost`: the condition sees the item BEFORE the ADD.
        ConditionExpression: [
          "(attribute_not_exists(m) OR m <= :mmax)",
          "(attribute_not_exists(#day) OR #day <= :dmax)",
          "(attribute_not_exists(pv) OR pv <= :pv)",
          ...keyAbsent,
        ].join(" AND "),
        UpdateExpression:
          "SET #s0.#key = :rec, #clear = :empty, pv = :pv, tz = :tz, #plan = :plan, dl = :dl, ml = :ml, " +
          "user_id = :uid, GSI1PK = :gpk, GSI1SK = :gsk, expires_at = :exp ADD m :c, #day :c",
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ":mmax": limits.monthly_limit - cost,
          ":dmax": limits.daily_limit - cost,
          ":pv": profile.rev,
          ":rec": record,
          ":empty": {},
          ":tz": profile.timezone,
          ":plan": limits.plan,
          ":dl": limits.daily_limit,
          ":ml": limits.monthly_limit,
          ":uid": userId,
          ":gpk": keys.quotaActiveIndex(w.month, shardOf(userId)),
          ":gsk": keys.quotaActiveIndexSort(w.date, userId),
          ":exp": counterExpiry(w.month),
          ":c": cost,
        },
        ReturnValues: "UPDATED_NEW",
      }),
    );
    return Attributes ?? {};
  } catch (error) {
    // The ring's maps exist from the item's creation on; a missing map means a missing item.
    if (
      error instanceof Error &&
      error.name === "ValidationException" &&
      /document path/i.test(error.message)
    ) {
      throw new MonthItemMissing();
    }
    throw error;
  }
}

/** Adds the ring's empty maps that an existing month item lacks (no-op when it has them all). */
async function ensureRing(userId: string, month: string): Promise<void> {
  const names = Object.fromEntries(ALL_SLOTS.map((s, i) => [`#r${i}`, s]));
  await db
    .send(
      new UpdateCommand({
        TableName: TABLE,
        Key: keys.quotaMonth(userId, month),
        ConditionExpression: "attribute_exists(PK)",
        UpdateExpression: `SET ${ALL_SLOTS.map((_, i) => `#r${i} = if_not_exists(#r${i}, :empty)`).join(", ")}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ":empty": {} },
      }),
    )
    .catch((error) => {
      if (!isConditionFailed(error)) throw error;
    });
}

/** The first charge of a month creates the item with the ring's empty maps; false when it exists. */
async function createMonthItem(
  userId: string,
  profile: Profile,
  limits: Limits,
  w: Windows,
  key: string,
  record: KeyRecord,
  cost: number,
  slot: number,
): Promise<boolean> {
  const ring = Object.fromEntries(ALL_SLOTS.map((s) => [s, {}])) as Record<string, Record<string, KeyRecord>>;
  ring[slotName(slot)] = { [key]: record };
  try {
    await db.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          ...keys.quotaMonth(userId, w.month),
          user_id: userId,
          m: cost,
          [w.dayAttribute]: cost,
          ...ring,
          pv: profile.rev,
          tz: profile.timezone,
          plan: limits.plan,
          dl: limits.daily_limit,
          ml: limits.monthly_limit,
          GSI1PK: keys.quotaActiveIndex(w.month, shardOf(userId)),
          GSI1SK: keys.quotaActiveIndexSort(w.date, userId),
          expires_at: counterExpiry(w.month),
        },
        ConditionExpression: "attribute_not_exists(PK)",
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailed(error)) return false;
    throw error;
  }
}

/* ------------------------------------------------------------------ release */

/** The key a release names (header or `request_id`); 422 when there is none. */
export function releaseKeyOf(header: string | undefined, requestId: string | undefined): string {
  const key = consumeKeyOf(header, requestId);
  if (key === undefined) {
    throw new AppError(
      "VALIDATION_FAILED",
      "Invalid request: give the consume key as the Idempotency-Key header or body.request_id",
      { extra: { errors: [{ loc: ["body", "request_id"], msg: "Field required", type: "missing" }] } },
    );
  }
  return key;
}

export interface ReleaseResult {
  consume_key: string;
  /** True when this call refunded the charge; false when it had been refunded before. */
  released: boolean;
  /** Credits given back by this call (0 on a repeat). */
  refunded: number;
  daily_remaining: number;
  monthly_remaining: number;
  remaining_credits: number;
}

/**
 * POST /users/limits/release: refunds the charge of a consume key (the upgrade failed), once.
 * The refund goes back to the day and month that were charged, never below zero (after a support
 * reset the counters may hold less than the charge). A second release refunds nothing. Keys are
 * known for IDEMPOTENCY_WINDOW_MINUTES; an unknown or older key is 404. One read and one write.
 */
export async function releaseCredits(user: AuthUser, key: string, now: Date): Promise<ReleaseResult> {
  const windowStart = new Date(now.getTime() - (IDEMPOTENCY_WINDOW_MINUTES + SLOT_MINUTES) * 60_000);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const state = await readUserState(user, now, windowStart);
    const w = windowsAt(now, state.profile.timezone);
    const months = [...new Set([w.month, localMonth(windowStart, state.profile.timezone)])];
    let found: { month: string; item: Record<string, unknown>; slot: string; record: KeyRecord } | undefined;
    for (const month of months) {
      const item = state.months.get(month);
      const hit = findKey(item, key, now);
      if (hit && item) found = { month, item, ...hit };
    }
    if (!found)
      throw new AppError(
        "NOT_FOUND",
        `No charge with the key ${key} in the last ${IDEMPOTENCY_WINDOW_MINUTES} minutes`,
      );
    const current = () => {
      const item = state.months.get(w.month);
      const d = decide(limitsOf(state.profile), usageOf(item, w), 0, w);
      return {
        daily_remaining: d.daily_remaining,
        monthly_remaining: d.monthly_remaining,
        remaining_credits: d.remaining_credits,
      };
    };
    if (found.record.r !== undefined) return { consume_key: key, released: false, refunded: 0, ...current() };

    const refundDay = Math.min(found.record.c, num(found.item[found.record.d]));
    const refundMonth = Math.min(found.record.c, num(found.item.m));
    try {
      const { Attributes } = await db.send(
        new UpdateCommand({
          TableName: TABLE,
          Key: keys.quotaMonth(user.id, found.month),
          ConditionExpression:
            "attribute_exists(#slot.#key) AND attribute_not_exists(#slot.#key.r) AND m >= :rm AND #day >= :rd",
          UpdateExpression: "SET #slot.#key.r = :now ADD m :negm, #day :negd",
          ExpressionAttributeNames: { "#slot": found.slot, "#key": key, "#day": found.record.d },
          ExpressionAttributeValues: {
            ":rm": refundMonth,
            ":rd": refundDay,
            ":negm": -refundMonth,
            ":negd": -refundDay,
            ":now": now.getTime(),
          },
          ReturnValues: "ALL_NEW",
        }),
      );
      const after = found.month === w.month ? Attributes : state.months.get(w.month);
      const d = decide(limitsOf(state.profile), usageOf(after, w), 0, w);
      return {
        consume_key: key,
        released: true,
        refunded: refundMonth,
        daily_remaining: d.daily_remaining,
        monthly_remaining: d.monthly_remaining,
        remaining_credits: d.remaining_credits,
      };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      // Released concurrently, or a counter changed under us: read again and decide again.
    }
  }
  throw new AppError("UNAVAILABLE", "The credit counter is busy; try again shortly", {
    headers: { "Retry-After": "1" },
  });
}

/* ------------------------------------------------------------------ support */

/**
 * Support: changes a profile (plan, limit overrides, timezone), then stamps the new profile
 * revision on the counters of the current month(s), so every warm instance's cached profile is
 * refused at its next charge and re-read: the change applies to the very next consume.
 */
export async function changeProfile(
  userId: string,
  change: ProfileChange,
  now = new Date(),
): Promise<Profile> {
  const profile = await updateProfile(userId, change, now);
  const limits = limitsOf(profile);
  for (const month of candidateMonths(now)) {
    try {
      await db.send(
        new UpdateCommand({
          TableName: TABLE,
          Key: keys.quotaMonth(userId, month),
          ConditionExpression: "attribute_exists(PK) AND (attribute_not_exists(pv) OR pv < :pv)",
          UpdateExpression: "SET pv = :pv, #plan = :plan, dl = :dl, ml = :ml",
          ExpressionAttributeNames: { "#plan": "plan" },
          ExpressionAttributeValues: {
            ":pv": profile.rev,
            ":plan": limits.plan,
            ":dl": limits.daily_limit,
            ":ml": limits.monthly_limit,
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
  }
  return profile;
}

/** Support: sets the plan, and optionally limit overrides (`null` removes them); see changeProfile. */
export function setPlan(
  userId: string,
  plan: PlanName,
  overrides?: Profile["overrides"] | null,
  now = new Date(),
): Promise<Profile> {
  return changeProfile(userId, { plan, overrides }, now);
}

/** Support: the user's latest window statements (written by the quota-reset job), newest first. */
export async function listStatements(userId: string, limit = 10): Promise<Record<string, unknown>[]> {
  const { Items } = await db.send(
    new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: "PK = :pk AND begins_with(SK, :prefix)",
      ExpressionAttributeValues: {
        ":pk": keys.userPartition(userId),
        ":prefix": keys.quotaStatementPrefix(""),
      },
      ScanIndexForward: false,
      Limit: limit,
    }),
  );
  return Items ?? [];
}

/**
 * Support: gives a user fresh credits by setting the current local day's and month's counters to
 * zero (the idempotency ring is kept, so retries still never charge twice). Returns the report.
 */
export async function resetQuota(userId: string, now = new Date()): Promise<LimitsReport> {
  const user: AuthUser = { id: userId, roles: [] };
  const state = await readUserState(user, now);
  const w = windowsAt(now, state.profile.timezone);
  try {
    await db.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: keys.quotaMonth(userId, w.month),
        ConditionExpression: "attribute_exists(PK)",
        UpdateExpression: "SET m = :zero, #day = :zero, reset_at = :now",
        ExpressionAttributeNames: { "#day": w.dayAttribute },
        ExpressionAttributeValues: { ":zero": 0, ":now": now.toISOString() },
      }),
    );
  } catch (error) {
    if (!isConditionFailed(error)) throw error;
  }
  return currentLimits(user, now);
}
