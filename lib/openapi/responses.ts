import { z } from "zod";
import type { IntakeResult } from "#lib/error-reports/intake";
import { ERROR_LEVELS, type ScrubbedReport } from "#lib/error-reports/schema";
import type { GroupsPage } from "#lib/error-reports/store";
import { type ErrorCode, statusOf } from "#lib/errors";
import { FlagDefinition, type VersionedFlag } from "#lib/flags/definitions";
import type { UserFeatures } from "#lib/flags/features";
import type { OfrepEvaluation } from "#lib/flags/ofrep";
import type { HistoryEntry } from "#lib/flags/store";
import { type HealthReport as AreaHealthReport, HealthSettings, ServiceStatus } from "#lib/health";
import { Action, PlanName } from "#lib/plans";
import type {
  CheckResult as AreaCheckResult,
  ConsumeResult as AreaConsumeResult,
  LimitsReport as AreaLimitsReport,
  ReleaseResult as AreaReleaseResult,
} from "#lib/quotas";
import { type Analytics, Period } from "#lib/usage/analytics";
import type { BulkTrackResult as AreaBulkTrackResult } from "#lib/usage/ingest";

/*
 * Response bodies of every route, as zod schemas. The areas return TypeScript interfaces, not
 * schemas, so the shapes are written here, next to a compile-time check (bottom of this file) that
 * each one has exactly the fields of the interface the code returns: a field added to or removed
 * from an area's result without a change here fails `tsc`. In the document (output mode) every
 * object is closed (`additionalProperties: false`), so the e2e contract check fails on a field
 * the spec does not declare.
 */

const Instant = z.iso.datetime().describe("ISO-8601 instant (UTC, `Z`)");
const LocalDate = z.iso.date().describe("Local calendar date `YYYY-MM-DD` in the user's timezone");

/* ------------------------------------------------------------------ errors */

/** Every error code, in the order of lib/errors.ts (the check below fails when one is missing). */
export const ERROR_CODES = [
  "BAD_REQUEST",
  "INVALID_JSON",
  "VALIDATION_FAILED",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "CONFLICT",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "QUOTA_EXCEEDED",
  "RATE_LIMITED",
  "UNAVAILABLE",
  "INTERNAL",
] as const satisfies readonly ErrorCode[];

/** The codes that answer with a status (from the one switch in lib/errors.ts). */
export function codesOf(status: number): ErrorCode[] {
  return ERROR_CODES.filter((code) => statusOf(code) === status);
}

/** `{ detail, code, request_id }` with the codes of one status, plus that error's extra fields. */
function errorBody<S extends z.ZodRawShape>(status: number, extra: S) {
  const codes = codesOf(status) as [ErrorCode, ...ErrorCode[]];
  return z.object({
    detail: z.string().describe("What went wrong, as a sentence for people"),
    code: z.enum(codes).describe("Stable error code, for programs"),
    request_id: z.string().describe("Also sent as the X-Request-Id header; quote it to support"),
    ...extra,
  });
}

/** One field problem of a 422, as FastAPI lists them. */
export const FieldError = z.object({
  loc: z.array(z.union([z.string(), z.number()])).describe("Where: `body`/`query`/`header`, then the path"),
  msg: z.string(),
  type: z.string(),
});

export const BadRequestError = errorBody(400, {});
export const UnauthorizedError = errorBody(401, {});
export const ForbiddenError = errorBody(403, {});
export const NotFoundError = errorBody(404, {});
export const ConflictError = errorBody(409, {
  current_version: z.number().int().optional().describe("Flags: the version the flag is at now"),
});
export const PayloadTooLargeError = errorBody(413, {
  max_bytes: z.number().int().optional().describe("The body size cap of this route"),
  max_events: z.number().int().optional().describe("Usage sync: most events per request"),
});
export const ValidationError = errorBody(422, {
  errors: z.array(FieldError).optional().describe("Each field problem (absent for header problems)"),
});
export const RateLimitedError = errorBody(429, {
  limit: z.number().int().describe("Requests allowed per window"),
  retry_after_seconds: z.number().int().describe("Also sent as Retry-After"),
});
export const InternalError = errorBody(500, {});
export const UnavailableError = errorBody(503, {});

/** API Gateway's own body when the function fails or times out before it answers (no request id). */
export const GatewayError = z.object({ message: z.string().describe("e.g. Internal Server Error") });
export const ServerError = z.union([InternalError, GatewayError]);
export const ServiceUnavailable = z.union([UnavailableError, GatewayError]);

/* ------------------------------------------------------------------ health */

export const HealthReport = z.object({
  status: z.enum(["operational", "degraded", "down", "maintenance"]),
  services: z.object({
    demon_engine: ServiceStatus,
    brain_engine: ServiceStatus,
    auth_service: ServiceStatus,
    usage_tracking: ServiceStatus,
  }),
  maintenance_window: HealthSettings.shape.maintenance_window
    .unwrap()
    .unwrap()
    .extend({ active: z.boolean().describe("True while the window is open") })
    .nullable()
    .describe("The next or current maintenance window; null when none is planned"),
  notices: HealthSettings.shape.notices.unwrap(),
  checked_at: Instant,
});

/* ------------------------------------------------------------------ quotas */

const DecisionFields = {
  allowed: z.boolean(),
  remaining_credits: z.number().int().describe("The smaller of daily_remaining and monthly_remaining"),
  daily_remaining: z.number().int(),
  monthly_remaining: z.number().int(),
  upgrade_required: z.boolean().describe("True when refused and a higher plan's limits would allow it"),
  reason: z.enum(["daily_limit_reached", "monthly_limit_reached"]).optional().describe("When refused"),
  resets_at: Instant.optional().describe("When refused: when the refusing window resets"),
};

export const LimitsReport = z.object({
  plan: PlanName,
  timezone: z.string().describe("IANA timezone of the user's day and month windows"),
  daily_limit: z.number().int(),
  daily_used: z.number().int(),
  daily_remaining: z.number().int(),
  monthly_limit: z.number().int(),
  monthly_used: z.number().int(),
  monthly_remaining: z.number().int(),
  remaining_credits: z.number().int(),
  resets_at: Instant.describe("Next local midnight: when the daily window resets"),
  monthly_resets_at: Instant,
  binding_window: z.enum(["daily", "monthly"]).describe("The window with fewer credits left"),
});

export const CheckResult = z.object({
  action: Action,
  credits_required: z.number().int(),
  ...DecisionFields,
});

export const ConsumeResult = z.object({
  ...DecisionFields,
  allowed: z.literal(true),
  action: Action,
  charged: z.number().int().describe("Credits charged by the original consume of this key"),
  consume_key: z.string().describe("The key to pass to release (generated when none was given)"),
  replayed: z.boolean().describe("True when this key had been charged before: nothing was charged now"),
  released: z.boolean().optional().describe("When replayed: whether that charge was released since"),
});

/** 429 of a consume: the error body with the refused decision. */
export const QuotaExceededError = errorBody(429, {
  action: Action,
  credits_required: z.number().int(),
  ...DecisionFields,
  allowed: z.literal(false),
});

export const ReleaseResult = z.object({
  consume_key: z.string(),
  released: z.boolean().describe("False when the charge had been released before"),
  refunded: z.number().int().describe("Credits given back by this call (0 on a repeat)"),
  daily_remaining: z.number().int(),
  monthly_remaining: z.number().int(),
  remaining_credits: z.number().int(),
});

/* ------------------------------------------------------------------ usage */

export const EventOutcome = z.object({
  index: z.number().int().describe("Position of the event in the request"),
  id: z.string().nullable().describe("The event's id; null when it had no usable id"),
  status: z.enum(["accepted", "duplicate", "rejected"]),
  reason: z.string().optional().describe("Why the event was rejected (field path and problem)"),
  timestamp_clamped: z.literal(true).optional().describe("The future timestamp became the receive time"),
});

export const BulkTrackResult = z.object({
  received: z.number().int(),
  accepted: z.number().int(),
  duplicate: z.number().int(),
  rejected: z.number().int(),
  clamped: z.number().int(),
  results: z.array(EventOutcome),
});

const Totals = z.object({
  upgrades: z.number().int(),
  successes: z.number().int(),
  success_rate: z.number(),
  avg_improvement_score: z.number(),
  scored: z.number().int(),
  credits_charged: z.number().int().describe("Credits consume charged in the period"),
  credits_reported: z.number().int().describe("Credits the events reported (informational)"),
  active_days: z.number().int(),
  by_technique: z.record(z.string(), z.number().int()),
  by_type: z.record(z.string(), z.number().int()),
});

export const AnalyticsReport = z.object({
  period: Period,
  timezone: z.string(),
  start_date: LocalDate,
  end_date: LocalDate,
  daily_upgrades: z.array(
    z.object({
      date: LocalDate,
      count: z.number().int(),
      successes: z.number().int(),
      partial: z.boolean().describe("True for today: the day is still running"),
    }),
  ),
  credit_usage: z.array(z.object({ date: LocalDate, credits: z.number().int(), partial: z.boolean() })),
  top_domains: z.array(
    z.object({
      domain: z.string(),
      count: z.number().int(),
      share: z.number().min(0).max(1),
      other: z.literal(true).optional().describe("The bucket of every domain past the top ten"),
    }),
  ),
  success_rate: z.number(),
  avg_improvement_score: z.number(),
  totals: Totals,
  previous_period: z.object({ start_date: LocalDate, end_date: LocalDate, totals: Totals }),
  generated_at: Instant,
});

/* ------------------------------------------------------------------ flags */

export const UserFeaturesResponse = z.object({
  realtime_upgrades: z.boolean(),
  analytics_dashboard: z.boolean(),
  offline_mode: z.boolean(),
  max_prompt_length: z.number().int(),
  supported_techniques: z.array(z.string()),
  ui_theme: z.string(),
});

export const OfrepEvaluationResponse = z.object({
  key: z.string(),
  value: z.union([z.boolean(), z.string(), z.number(), z.array(z.string())]),
  reason: z.enum(["DEFAULT", "STATIC", "TARGETING_MATCH", "SPLIT", "DISABLED"]),
  variant: z.string(),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});

export const OfrepBulkResponse = z.object({ flags: z.array(OfrepEvaluationResponse) });

/**
 * OFREP's failure body (400 and 404 of the OFREP routes): the protocol's `{ key?, errorCode,
 * errorDetails }`, plus `detail` and `code` of our error model (no `request_id`: it is the header).
 */
function ofrepFailure(code: ErrorCode, errorCodes: [string, ...string[]]) {
  return z.object({
    key: z.string().optional().describe("The flag key (single evaluation only)"),
    errorCode: z.enum(errorCodes).describe("OpenFeature error code"),
    errorDetails: z.string(),
    detail: z.string().describe("Same as errorDetails"),
    code: z.literal(code),
  });
}

export const OfrepBadRequest = ofrepFailure("VALIDATION_FAILED", [
  "PARSE_ERROR",
  "TARGETING_KEY_MISSING",
  "INVALID_CONTEXT",
]);
export const OfrepNotFound = ofrepFailure("NOT_FOUND", ["FLAG_NOT_FOUND"]);

export const VersionedFlagResponse = z.object({
  key: z.string(),
  version: z.number().int().describe("0 = the built-in definition"),
  definition: FlagDefinition,
  source: z.enum(["built-in", "stored"]),
  updated_at: Instant.optional(),
  updated_by: z.string().optional(),
});

export const FlagListResponse = z.object({ flags: z.array(VersionedFlagResponse) });

export const FlagHistoryResponse = z.object({
  history: z.array(
    z.object({
      version: z.number().int(),
      action: z.string(),
      actor: z.string(),
      at: z.string().describe("ISO instant; empty for the built-in version 0"),
      note: z.string().optional(),
      definition: FlagDefinition,
    }),
  ),
});

/* ------------------------------------------------------------------ error reports */

export const IntakeResponse = z.object({
  id: z.string(),
  group_id: z.string(),
  status: z.enum(["stored", "duplicate"]),
  fingerprint: z.enum(["client", "computed"]),
});

const SampleSummary = z.object({
  report_id: z.string(),
  level: z.string(),
  message: z.string(),
  stack_head: z.string().optional(),
  extension_version: z.string(),
  browser: z.string(),
  os: z.string(),
  url: z.string().optional(),
  received_at: z.string(),
});

const ScrubbedReportResponse = z.object({
  id: z.string(),
  level: z.enum(ERROR_LEVELS),
  message: z.string(),
  stack: z.string().optional(),
  extension_version: z.string(),
  browser: z.string(),
  os: z.string(),
  url: z.string().optional().describe("Scheme and host only"),
  context: z.record(z.string(), z.string()).optional(),
  timestamp: z.string(),
  dropped_fields: z.array(z.string()).optional(),
});

export const ErrorGroupsResponse = z.object({
  period: z.object({ days: z.number().int(), from: z.iso.date(), to: z.iso.date() }),
  groups: z.array(
    z.object({
      group_id: z.string(),
      title: z.string(),
      error_type: z.string(),
      count_in_period: z.number().int(),
      count_total: z.number().int(),
      dropped: z.number().int(),
      first_seen: z.string(),
      last_seen: z.string(),
      levels: z.array(z.string()),
      versions: z.array(z.string()),
      latest_sample: SampleSummary,
      samples: z.array(z.object({ report: ScrubbedReportResponse, received_at: z.string() })),
    }),
  ),
  groups_seen: z.number().int(),
});

/* ------------------------------------------------------------------ documentation */

/** GET /openapi.json: an OpenAPI 3.1 document (open object: its own schema is the OpenAPI spec). */
export const OpenApiDocument = z
  .looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) })
  .describe("This document");

/* ------------------------------------------------------------------ drift checks */

/** True when A and B have the same fields with mutually assignable types. */
/** True when A and B are the same type: same fields, same optionality, at every depth. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Mutually assignable with the same top-level fields (for a type written as an intersection). */
type Compatible<A, B> = [A] extends [B] ? ([B] extends [A] ? Same<keyof A, keyof B> : false) : false;
type Expect<T extends true> = T;

/**
 * Compile-time proof that each response schema matches what the code returns, optional fields
 * included. OFREP's `value` is `unknown` in the area, so only its field names are compared.
 */
export type ResponseDriftChecks = [
  Expect<Compatible<z.infer<typeof HealthReport>, AreaHealthReport>>,
  Expect<Same<z.infer<typeof LimitsReport>, AreaLimitsReport>>,
  Expect<Same<z.infer<typeof CheckResult>, AreaCheckResult>>,
  Expect<Same<z.infer<typeof ConsumeResult>, AreaConsumeResult>>,
  Expect<Same<z.infer<typeof ReleaseResult>, AreaReleaseResult>>,
  Expect<Same<z.infer<typeof BulkTrackResult>, AreaBulkTrackResult>>,
  Expect<Same<z.infer<typeof AnalyticsReport>, Analytics>>,
  Expect<Same<z.infer<typeof UserFeaturesResponse>, UserFeatures>>,
  Expect<Same<keyof z.infer<typeof OfrepEvaluationResponse>, keyof OfrepEvaluation>>,
  Expect<Same<z.infer<typeof VersionedFlagResponse>, VersionedFlag>>,
  Expect<Same<z.infer<typeof FlagHistoryResponse>["history"][number], HistoryEntry>>,
  Expect<Same<z.infer<typeof IntakeResponse>, IntakeResult>>,
  Expect<Same<z.infer<typeof ErrorGroupsResponse>, GroupsPage>>,
  Expect<Same<z.infer<typeof ScrubbedReportResponse>, ScrubbedReport>>,
  Expect<Same<(typeof ERROR_CODES)[number], ErrorCode>>,
];
