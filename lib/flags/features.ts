import type { AuthUser } from "#lib/auth";
import { AppError } from "#lib/errors";
import { cachedFlags, cachedPlan } from "#lib/flags/cache";
import { ExtensionVersion, PLAN_FEATURE_KEYS } from "#lib/flags/definitions";
import { etagOf, ifNoneMatchHits } from "#lib/flags/etag";
import { type Evaluation, evaluateFlag, type Subject } from "#lib/flags/evaluate";
import { Reply } from "#lib/http";
import { PLANS } from "#lib/plans";

/** GET /users/features: the extension's switches and its plan-dependent configuration. */
export interface UserFeatures {
  realtime_upgrades: boolean;
  analytics_dashboard: boolean;
  offline_mode: boolean;
  max_prompt_length: number;
  supported_techniques: string[];
  ui_theme: string;
}

/** The extension version a request states in `X-Extension-Version` (422 when malformed). */
export function extensionVersionOf(headers: Record<string, string | undefined>): string | undefined {
  const raw = headers["x-extension-version"];
  if (raw === undefined || raw === "") return undefined;
  const parsed = ExtensionVersion.safeParse(raw);
  if (!parsed.success) {
    throw new AppError(
      "VALIDATION_FAILED",
      `Invalid X-Extension-Version header: ${parsed.error.issues[0]?.message}`,
    );
  }
  return parsed.data;
}

/** The subject of the caller: the token's user, their plan (cached), the stated extension version. */
export async function subjectOf(
  user: AuthUser,
  extensionVersion: string | undefined,
  now: Date,
): Promise<Subject> {
  return { userId: user.id, plan: await cachedPlan(user, now.getTime()), extensionVersion };
}

function evaluateKey(
  flags: Awaited<ReturnType<typeof cachedFlags>>,
  key: string,
  subject: Subject,
): Evaluation {
  const flag = flags.get(key);
  // Built-in flags are always in the map (loadFlags fills them from code); this guards a typo.
  if (!flag) throw new Error(`built-in flag ${key} missing`);
  return evaluateFlag(flag, subject);
}

/**
 * The caller's features: the three switches and the theme evaluated from the flags, the prompt
 * length and techniques straight from the plan. Costs no DynamoDB read when the definitions and
 * the user's plan are cached.
 */
export async function userFeatures(subject: Subject, now: Date): Promise<UserFeatures> {
  const flags = await cachedFlags(now.getTime());
  const plan = PLANS[subject.plan];
  const switches = Object.fromEntries(
    PLAN_FEATURE_KEYS.map((key) => [key, evaluateKey(flags, key, subject).value === true]),
  ) as Pick<UserFeatures, (typeof PLAN_FEATURE_KEYS)[number]>;
  const theme = evaluateKey(flags, "ui_theme", subject).value;
  return {
    ...switches,
    max_prompt_length: plan.max_prompt_length,
    supported_techniques: [...plan.techniques],
    ui_theme: typeof theme === "string" ? theme : "system",
  };
}

/**
 * The HTTP answer for GET /users/features: 200 with an ETag, or 304 with no body when
 * `If-None-Match` names the current tag. `private, no-cache` lets a browser cache keep it and
 * revalidate on every use; shared caches never keep it.
 */
export async function featuresReply(
  user: AuthUser,
  headers: Record<string, string | undefined>,
  now: Date,
): Promise<Reply> {
  const subject = await subjectOf(user, extensionVersionOf(headers), now);
  const body = await userFeatures(subject, now);
  const etag = etagOf(body);
  const cacheHeaders = { ETag: etag, "Cache-Control": "private, no-cache" };
  if (ifNoneMatchHits(headers["if-none-match"], etag)) return new Reply(304, undefined, cacheHeaders);
  return new Reply(200, body, cacheHeaders);
}
