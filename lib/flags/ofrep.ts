import type { AuthUser } from "#lib/auth";
import { cachedFlags } from "#lib/flags/cache";
import { ExtensionVersion, isPlanConfig, PLAN_CONFIG_KEYS } from "#lib/flags/definitions";
import { etagOf, ifNoneMatchHits } from "#lib/flags/etag";
import { type Evaluation, evaluateFlag, evaluatePlanConfig, type Subject } from "#lib/flags/evaluate";
import { subjectOf } from "#lib/flags/features";
import { type HttpEvent, Reply } from "#lib/http";

/**
 * The OpenFeature Remote Evaluation Protocol (OFREP, open-feature/protocol service/openapi.yaml):
 * `POST /ofrep/v1/evaluate/flags` (bulk, ETag / If-None-Match → 304) and
 * `POST /ofrep/v1/evaluate/flags/{key}`, with the protocol's success and failure shapes, so a
 * stock OpenFeature provider can read our flags. The targeting key is always the token's user.
 */

/** The protocol's error codes (OpenFeature error codes). */
export type OfrepErrorCode = "PARSE_ERROR" | "TARGETING_KEY_MISSING" | "INVALID_CONTEXT" | "FLAG_NOT_FOUND";

/** Largest OFREP request body we read: a context is a handful of attributes. */
export const OFREP_MAX_BODY_BYTES = 16_384;

/** OFREP evaluation success: metadata holds only primitives, as the protocol requires. */
export interface OfrepEvaluation {
  key: string;
  value: unknown;
  reason: Evaluation["reason"];
  variant: string;
  metadata: Record<string, string | number | boolean>;
}

class OfrepFailure extends Error {
  constructor(
    readonly errorCode: OfrepErrorCode,
    readonly errorDetails: string,
  ) {
    super(errorDetails);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Reads an OFREP request body into the caller's evaluation attributes. Unparsable JSON or a body
 * that is not an object is PARSE_ERROR; a context that is not an object, a `targetingKey` naming
 * anyone but the token's user, or a malformed extension version is INVALID_CONTEXT; an empty
 * `targetingKey` is TARGETING_KEY_MISSING. Omitting `targetingKey` is fine: the token says who.
 * Other context attributes (a `plan`, say) are ignored: the plan comes from the user's profile.
 */
export function readOfrepContext(event: HttpEvent, user: AuthUser): { extensionVersion?: string } {
  const raw =
    event.isBase64Encoded && event.body ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
  if (raw === undefined || raw === null || raw.trim() === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new OfrepFailure("PARSE_ERROR", "The request body is not valid JSON");
  }
  if (!isObject(body)) throw new OfrepFailure("PARSE_ERROR", "The request body must be a JSON object");
  const context = body.context ?? {};
  if (!isObject(context)) throw new OfrepFailure("INVALID_CONTEXT", "context must be an object");
  if ("targetingKey" in context) {
    const given = context.targetingKey;
    if (given === "") throw new OfrepFailure("TARGETING_KEY_MISSING", "targetingKey is empty");
    if (typeof given !== "string") throw new OfrepFailure("INVALID_CONTEXT", "targetingKey must be a string");
    if (given !== user.id) {
      throw new OfrepFailure(
        "INVALID_CONTEXT",
        "targetingKey must be the authenticated user's id (the token's sub); omit it to use the token's",
      );
    }
  }
  const version = context.extensionVersion ?? context.extension_version;
  if (version === undefined) return {};
  const parsed = ExtensionVersion.safeParse(version);
  if (!parsed.success) {
    throw new OfrepFailure(
      "INVALID_CONTEXT",
      `extensionVersion ${parsed.error.issues[0]?.message ?? "is invalid"}`,
    );
  }
  return { extensionVersion: parsed.data };
}

/** The request's context, or the protocol's 400 `{ key?, errorCode, errorDetails }` (key for single evaluations). */
function contextOrFailure(
  event: HttpEvent,
  user: AuthUser,
  key?: string,
): { extensionVersion?: string } | Reply {
  try {
    return readOfrepContext(event, user);
  } catch (error) {
    if (!(error instanceof OfrepFailure)) throw error;
    return new Reply(400, {
      key,
      errorCode: error.errorCode,
      errorDetails: error.errorDetails,
      // Our error model too, so clients that read every error as FastAPI's find `detail` and `code`.
      detail: error.errorDetails,
      code: "VALIDATION_FAILED",
    });
  }
}

/** An evaluation in the protocol's shape; `metadata.source` names the deciding step. */
export function toOfrep(e: Evaluation): OfrepEvaluation {
  const metadata: OfrepEvaluation["metadata"] = { source: e.step };
  if (e.version !== undefined) metadata.flag_version = e.version;
  if (e.ruleId !== undefined) metadata.rule_id = e.ruleId;
  return { key: e.key, value: e.value, reason: e.reason, variant: e.variant, metadata };
}

async function evaluateEverything(subject: Subject, now: Date): Promise<OfrepEvaluation[]> {
  const flags = await cachedFlags(now.getTime());
  return [
    ...[...flags.values()].map((flag) => evaluateFlag(flag, subject)),
    ...PLAN_CONFIG_KEYS.map((key) => evaluatePlanConfig(key, subject.plan)),
  ].map(toOfrep);
}

/**
 * Bulk evaluation: every flag and the plan configuration, `{ flags: [...] }` with an ETag of the
 * body; `If-None-Match` with the current tag gets 304 and no body. A bad request is 400
 * `{ errorCode, errorDetails }`.
 */
export async function ofrepBulk(
  event: HttpEvent,
  user: AuthUser,
  ifNoneMatch: string | undefined,
  now: Date,
): Promise<Reply> {
  const context = contextOrFailure(event, user);
  if (context instanceof Reply) return context;
  const subject = await subjectOf(user, context.extensionVersion, now);
  const body = { flags: await evaluateEverything(subject, now) };
  const etag = etagOf(body);
  const headers = { ETag: etag, "Cache-Control": "private, no-cache" };
  if (ifNoneMatchHits(ifNoneMatch, etag)) return new Reply(304, undefined, headers);
  return new Reply(200, body, headers);
}

/**
 * Single evaluation: `{ key, value, reason, variant, metadata }`; an unknown key is 404
 * `{ key, errorCode: "FLAG_NOT_FOUND", errorDetails }`, a bad request 400 with the same shape.
 */
export async function ofrepFlag(event: HttpEvent, user: AuthUser, now: Date): Promise<Reply> {
  const key = event.pathParameters?.key ?? "";
  const context = contextOrFailure(event, user, key);
  if (context instanceof Reply) return context;
  const flag = (await cachedFlags(now.getTime())).get(key);
  const evaluate = flag
    ? (subject: Subject) => evaluateFlag(flag, subject)
    : isPlanConfig(key)
      ? (subject: Subject) => evaluatePlanConfig(key, subject.plan)
      : undefined;
  if (!evaluate) {
    const detail = `No flag named "${key}"`;
    return new Reply(404, {
      key,
      errorCode: "FLAG_NOT_FOUND",
      errorDetails: detail,
      detail,
      code: "NOT_FOUND",
    });
  }
  return new Reply(200, toOfrep(evaluate(await subjectOf(user, context.extensionVersion, now))));
}
