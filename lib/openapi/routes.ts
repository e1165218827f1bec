import { z } from "zod";
import { ErrorGroupsQuery, ErrorReportBody } from "#lib/error-reports/schema";
import { FlagPatch, HistoryQuery, KillRequest, OverrideRequest, RollbackRequest } from "#lib/flags/admin";
import { ExtensionVersion, FlagKey } from "#lib/flags/definitions";
import {
  AnalyticsReport,
  BadRequestError,
  BulkTrackResult,
  CheckResult,
  ConflictError,
  ConsumeResult,
  ErrorGroupsResponse,
  FlagHistoryResponse,
  FlagListResponse,
  ForbiddenError,
  HealthReport,
  IntakeResponse,
  LimitsReport,
  NotFoundError,
  OfrepBadRequest,
  OfrepBulkResponse,
  OfrepEvaluationResponse,
  OfrepNotFound,
  OpenApiDocument,
  PayloadTooLargeError,
  QuotaExceededError,
  RateLimitedError,
  ReleaseResult,
  ServerError,
  ServiceUnavailable,
  UnauthorizedError,
  UserFeaturesResponse,
  ValidationError,
  VersionedFlagResponse,
} from "#lib/openapi/responses";
import { CheckRequest, ConsumeKey, ConsumeRequest, ReleaseRequest } from "#lib/quotas";
import { AnalyticsBody, AnalyticsQuery } from "#lib/usage/analytics";
import { MAX_EVENTS_PER_SYNC, UsageEvent } from "#lib/usage/event";

/*
 * The route registry the OpenAPI document is generated from: one entry per HTTP route of
 * serverless.yml (tests/openapi.test.ts proves the two lists are equal), with the SAME zod schemas
 * the handlers pass to route() for bodies and query strings, and the response schemas of
 * lib/openapi/responses.ts per status.
 */

export type Method = "GET" | "POST" | "PUT" | "OPTIONS";
export type Tag =
  | "Health"
  | "Quotas"
  | "Usage"
  | "Features"
  | "OFREP"
  | "Admin: flags"
  | "Error reports"
  | "Documentation";
export type ResponseHeader = "ETag" | "Retry-After" | "Cache-Control" | "WWW-Authenticate" | "CORS";

/** A named schema: the name is its entry in `components.schemas`. */
export interface Named {
  name: string;
  schema: z.ZodType;
}

export interface ResponseSpec {
  description: string;
  /** JSON body; absent for an empty body. */
  body?: Named;
  /** A non-JSON body (the reference page and its renderer). */
  text?: { contentType: string; description: string };
  headers?: ResponseHeader[];
}

export interface RequestHeader {
  name: string;
  description: string;
  schema: z.ZodType;
}

export interface RouteSpec {
  method: Method;
  /** The OpenAPI path; a greedy `{proxy+}` of API Gateway is written `{proxy}` (see routeKeyOf). */
  path: string;
  operationId: string;
  /** The function of serverless.yml that serves it. */
  functionName: string;
  tag: Tag;
  summary: string;
  description?: string;
  /** `true`: a Bearer token; `"admin"`: a token with the admin role. */
  auth: boolean | "admin";
  body?: { schema: Named; required: boolean };
  query?: z.ZodObject;
  pathParams?: Record<string, z.ZodType>;
  headers?: RequestHeader[];
  responses: Record<number, ResponseSpec>;
  /** Sample events (events/<name>.json) whose body, query and path parameters are the examples. */
  events?: string[];
}

const named = (name: string, schema: z.ZodType): Named => ({ name, schema });

/** Path parameters that take the rest of the path, slashes included (API Gateway `{name+}`). */
export const GREEDY_PARAMS = ["proxy"];

/** The API Gateway route key of a route (`OPTIONS /{proxy+}`), as serverless.yml writes it. */
export function routeKeyOf(route: Pick<RouteSpec, "method" | "path">): string {
  let path = route.path;
  for (const name of GREEDY_PARAMS) path = path.replace(`{${name}}`, `{${name}+}`);
  return `${route.method} ${path}`;
}

/* ------------------------------------------------------------------ request schemas */

/** The OFREP evaluation request (open-feature/protocol): an optional evaluation context. */
export const OfrepRequest = z
  .object({
    context: z
      .looseObject({
        targetingKey: z.string().optional().describe("Must be the token's user id when given; omit it"),
        extensionVersion: ExtensionVersion.optional().describe("Version of the calling extension"),
      })
      .optional(),
  })
  .describe("Other context attributes are ignored: the plan comes from the user's profile");

/**
 * The documented shape of a usage sync: a JSON array of events or `{ "events": [...] }`. The
 * handler accepts any array items and checks each event on its own (a bad event is `rejected` in
 * the 200 answer, it never fails the request); this is the shape an event must have to count.
 */
export const UsageSync = z
  .union([
    z.array(UsageEvent).max(MAX_EVENTS_PER_SYNC),
    z.strictObject({ events: z.array(UsageEvent).max(MAX_EVENTS_PER_SYNC) }),
  ])
  .describe(`At most ${MAX_EVENTS_PER_SYNC} events and 1 MiB; each event is checked on its own`);

const IdempotencyKey: RequestHeader = {
  name: "Idempotency-Key",
  description: "The consume key (same as body.request_id; 422 when both are given and differ)",
  schema: ConsumeKey,
};
const IfNoneMatch: RequestHeader = {
  name: "If-None-Match",
  description: "The ETag of the previous answer: 304 with no body while nothing changed",
  schema: z.string(),
};
const ExtensionVersionHeader: RequestHeader = {
  name: "X-Extension-Version",
  description: "Version of the calling extension (targeting rules on extension versions)",
  schema: ExtensionVersion,
};

/* ------------------------------------------------------------------ error responses */

const E = {
  400: { description: "The body is not valid JSON", body: named("BadRequestError", BadRequestError) },
  401: {
    description: "Missing, malformed, expired or otherwise invalid Bearer token",
    body: named("UnauthorizedError", UnauthorizedError),
    headers: ["WWW-Authenticate"],
  },
  403: { description: "The token lacks the admin role", body: named("ForbiddenError", ForbiddenError) },
  404: { description: "Not found", body: named("NotFoundError", NotFoundError) },
  409: { description: "Conflict", body: named("ConflictError", ConflictError) },
  413: {
    description: "The body is larger than the route accepts",
    body: named("PayloadTooLargeError", PayloadTooLargeError),
  },
  422: {
    description: "A field of the body, query or a header is invalid; `errors` names each path",
    body: named("ValidationError", ValidationError),
  },
  500: {
    description:
      "Unexpected error (details are only logged); API Gateway's `{ message }` when the function itself failed",
    body: named("ServerError", ServerError),
  },
  503: {
    description:
      "The database or identity provider is unavailable; retry after Retry-After. " +
      "API Gateway's `{ message }` when the function timed out",
    body: named("ServiceUnavailable", ServiceUnavailable),
    headers: ["Retry-After"],
  },
} satisfies Record<number, ResponseSpec>;

/**
 * The errors route() itself can answer with: 401 (and 403 for admin routes) from the token, 400
 * and 422 from the body and query schemas, 413 from the body cap of routes that take a body, 500
 * always, 503 when the database or the identity provider does not answer.
 */
function errorsOf(auth: boolean | "admin", parts: { json?: boolean; body?: boolean; validates?: boolean }) {
  const out: Record<number, ResponseSpec> = { 500: E[500] };
  if (auth) Object.assign(out, { 401: E[401], 503: E[503] });
  if (auth === "admin") out[403] = E[403];
  if (parts.json) out[400] = E[400];
  if (parts.body) out[413] = E[413];
  if (parts.validates) out[422] = E[422];
  return out;
}

const ok = (description: string, body: Named, headers?: ResponseHeader[]): ResponseSpec => ({
  description,
  body,
  headers,
});
const notModified: ResponseSpec = { description: "Not modified: the ETag still matches", headers: ["ETag"] };

/* ------------------------------------------------------------------ flags admin */

const FLAG = { key: FlagKey.describe("Flag key (snake_case)") };
const flagChange = (
  path: string,
  operationId: string,
  summary: string,
  body: RouteSpec["body"],
  events: string[],
  description?: string,
): RouteSpec => ({
  method: path.endsWith("{key}") ? "PUT" : "POST",
  path,
  operationId,
  functionName: "adminFlags",
  tag: "Admin: flags",
  summary,
  description,
  auth: "admin",
  body,
  pathParams: FLAG,
  responses: {
    200: ok("The flag after the change (a new version)", named("VersionedFlag", VersionedFlagResponse)),
    404: { ...E[404], description: "No such flag (or version)" },
    409: { ...E[409], description: "expected_version is stale, or the flag changed during the write" },
    ...errorsOf("admin", { json: body !== undefined, body: true, validates: true }),
  },
  events,
});

/* ------------------------------------------------------------------ the registry */

export const ROUTES: readonly RouteSpec[] = [
  {
    method: "GET",
    path: "/system/health/extension",
    operationId: "getExtensionHealth",
    functionName: "health",
    tag: "Health",
    summary: "Service statuses for the extension",
    description: "Cached for HEALTH_CACHE_SECONDS; an open maintenance window wins over every status.",
    auth: false,
    responses: {
      200: ok("Statuses, maintenance window and notices", named("HealthReport", HealthReport), [
        "Cache-Control",
      ]),
      500: E[500],
    },
    events: ["health"],
  },
  {
    method: "OPTIONS",
    path: "/{proxy}",
    operationId: "corsPreflight",
    functionName: "preflight",
    tag: "Health",
    summary: "CORS preflight of any path",
    description:
      "Answers 204 with the allowed methods and headers when Origin is a configured extension origin " +
      "(CORS_ALLOWED_ORIGINS), and 204 without them otherwise.",
    auth: false,
    pathParams: { proxy: z.string().describe("Any path, slashes included (API Gateway's greedy {proxy+})") },
    responses: { 204: { description: "Preflight answer", headers: ["CORS"] } },
    events: ["preflight"],
  },

  // Quotas
  {
    method: "GET",
    path: "/users/limits/current",
    operationId: "getCurrentLimits",
    functionName: "limitsCurrent",
    tag: "Quotas",
    summary: "Plan, limits, usage and resets of both windows",
    auth: true,
    responses: {
      200: ok("The caller's limits now", named("LimitsReport", LimitsReport)),
      ...errorsOf(true, {}),
    },
    events: ["limitsCurrent"],
  },
  {
    method: "POST",
    path: "/users/limits/check",
    operationId: "checkLimits",
    functionName: "limitsCheck",
    tag: "Quotas",
    summary: "Would an action be allowed now (consumes nothing)",
    description:
      "From the query string or a JSON body (a body field wins). `action` defaults to `upgrade`, " +
      "`credits_required` to the action's price.",
    auth: true,
    body: { schema: named("CheckRequest", CheckRequest), required: false },
    query: CheckRequest,
    responses: {
      200: ok("The decision (allowed or not, with the reason)", named("CheckResult", CheckResult)),
      ...errorsOf(true, { json: true, body: true, validates: true }),
    },
    events: ["limitsCheck", "limitsCheck-query"],
  },
  {
    method: "POST",
    path: "/users/limits/consume",
    operationId: "consumeCredits",
    functionName: "limitsConsume",
    tag: "Quotas",
    summary: "Charge an action's price atomically (idempotent by key)",
    description:
      "One conditional write charges both windows. With a key (Idempotency-Key header or body.request_id), " +
      "a retry within the idempotency window returns the original decision and charges nothing.",
    auth: true,
    body: { schema: named("ConsumeRequest", ConsumeRequest), required: true },
    headers: [IdempotencyKey],
    responses: {
      200: ok("Charged (or replayed)", named("ConsumeResult", ConsumeResult)),
      409: { ...E[409], description: "The key was used for another action" },
      429: {
        description: "A daily or monthly limit is reached; retry after Retry-After",
        body: named("QuotaExceededError", QuotaExceededError),
        headers: ["Retry-After"],
      },
      ...errorsOf(true, { json: true, body: true, validates: true }),
    },
    events: ["limitsConsume"],
  },
  {
    method: "POST",
    path: "/users/limits/release",
    operationId: "releaseCredits",
    functionName: "limitsRelease",
    tag: "Quotas",
    summary: "Refund a consume key's charge once",
    auth: true,
    body: { schema: named("ReleaseRequest", ReleaseRequest), required: false },
    headers: [IdempotencyKey],
    responses: {
      200: ok("Refunded (or refunded before)", named("ReleaseResult", ReleaseResult)),
      404: { ...E[404], description: "No charge with this key in the idempotency window" },
      ...errorsOf(true, { json: true, body: true, validates: true }),
    },
    events: ["limitsRelease"],
  },

  // Usage
  {
    method: "POST",
    path: "/users/usage/bulk-track",
    operationId: "bulkTrackUsage",
    functionName: "usageBulkTrack",
    tag: "Usage",
    summary: "Sync usage events, exactly once per event id",
    description:
      "Events are checked one by one: an invalid event is `rejected` with its reason in the 200 answer " +
      "and never stops the others. A re-sent id is `duplicate`.",
    auth: true,
    body: { schema: named("UsageSync", UsageSync), required: true },
    responses: {
      200: ok("The outcome of each event", named("BulkTrackResult", BulkTrackResult)),
      ...errorsOf(true, { json: true, body: true, validates: true }),
    },
    events: ["usageBulkTrack", "usageBulkTrack-envelope"],
  },
  {
    method: "POST",
    path: "/users/usage/analytics",
    operationId: "postUsageAnalytics",
    functionName: "usageAnalytics",
    tag: "Usage",
    summary: "Dashboard series and totals for a period",
    auth: true,
    body: { schema: named("AnalyticsRequest", AnalyticsBody), required: false },
    query: AnalyticsQuery,
    responses: {
      200: ok(
        "Series per local day, totals and the previous period",
        named("AnalyticsReport", AnalyticsReport),
      ),
      ...errorsOf(true, { json: true, body: true, validates: true }),
    },
    events: ["usageAnalytics"],
  },
  {
    method: "GET",
    path: "/users/usage/analytics",
    operationId: "getUsageAnalytics",
    functionName: "usageAnalytics",
    tag: "Usage",
    summary: "Dashboard series and totals for a period (query string)",
    auth: true,
    query: AnalyticsQuery,
    responses: {
      200: ok(
        "Series per local day, totals and the previous period",
        named("AnalyticsReport", AnalyticsReport),
      ),
      ...errorsOf(true, { validates: true }),
    },
    events: ["usageAnalytics-get"],
  },

  // Features and OFREP
  {
    method: "GET",
    path: "/users/features",
    operationId: "getUserFeatures",
    functionName: "features",
    tag: "Features",
    summary: "The caller's feature switches and plan configuration",
    description: "With an ETag; `If-None-Match` with the current tag answers 304 with no body.",
    auth: true,
    headers: [IfNoneMatch, ExtensionVersionHeader],
    responses: {
      200: ok("Switches and configuration", named("UserFeatures", UserFeaturesResponse), ["ETag"]),
      304: notModified,
      422: { ...E[422], description: "X-Extension-Version is malformed" },
      ...errorsOf(true, {}),
    },
    events: ["features"],
  },
  {
    method: "POST",
    path: "/ofrep/v1/evaluate/flags",
    operationId: "ofrepEvaluateFlags",
    functionName: "ofrepBulk",
    tag: "OFREP",
    summary: "OFREP bulk evaluation of every flag and the plan configuration",
    description: "OpenFeature Remote Evaluation Protocol. ETag / If-None-Match → 304.",
    auth: true,
    body: { schema: named("OfrepRequest", OfrepRequest), required: false },
    headers: [IfNoneMatch],
    responses: {
      200: ok("Every evaluation", named("OfrepBulkResponse", OfrepBulkResponse), ["ETag"]),
      304: notModified,
      400: {
        description: "Unparsable body or invalid context (OFREP error)",
        body: named("OfrepBadRequest", OfrepBadRequest),
      },
      ...errorsOf(true, { body: true }),
    },
    events: ["ofrepBulk"],
  },
  {
    method: "POST",
    path: "/ofrep/v1/evaluate/flags/{key}",
    operationId: "ofrepEvaluateFlag",
    functionName: "ofrepFlag",
    tag: "OFREP",
    summary: "OFREP evaluation of one flag",
    auth: true,
    body: { schema: named("OfrepRequest", OfrepRequest), required: false },
    pathParams: { key: z.string().describe("Flag key, or max_prompt_length / supported_techniques") },
    responses: {
      200: ok("The evaluation", named("OfrepEvaluation", OfrepEvaluationResponse)),
      400: {
        description: "Unparsable body or invalid context (OFREP error)",
        body: named("OfrepBadRequest", OfrepBadRequest),
      },
      404: { description: "No such flag (FLAG_NOT_FOUND)", body: named("OfrepNotFound", OfrepNotFound) },
      ...errorsOf(true, { body: true }),
    },
    events: ["ofrepFlag"],
  },

  // Admin: flags
  {
    method: "GET",
    path: "/admin/flags",
    operationId: "adminListFlags",
    functionName: "adminFlags",
    tag: "Admin: flags",
    summary: "Every flag with its version and source",
    auth: "admin",
    responses: { 200: ok("Every flag", named("FlagList", FlagListResponse)), ...errorsOf("admin", {}) },
    events: ["adminFlags"],
  },
  {
    method: "GET",
    path: "/admin/flags/{key}",
    operationId: "adminGetFlag",
    functionName: "adminFlags",
    tag: "Admin: flags",
    summary: "One flag",
    auth: "admin",
    pathParams: FLAG,
    responses: {
      200: ok("The flag", named("VersionedFlag", VersionedFlagResponse)),
      404: { ...E[404], description: "No such flag" },
      ...errorsOf("admin", {}),
    },
    events: ["adminFlags-get"],
  },
  flagChange(
    "/admin/flags/{key}",
    "adminPutFlag",
    "Replace fields of a flag, or create one (type and default required)",
    { schema: named("FlagPatch", FlagPatch), required: true },
    ["adminFlags-put"],
    "A flag's type never changes. `expected_version` makes the change conditional (409 when stale).",
  ),
  flagChange(
    "/admin/flags/{key}/kill",
    "adminKillFlag",
    "Kill switch: off for everyone until unkilled",
    { schema: named("KillRequest", KillRequest), required: false },
    ["adminFlags-kill"],
  ),
  flagChange("/admin/flags/{key}/unkill", "adminUnkillFlag", "Lift the kill switch", undefined, [
    "adminFlags-unkill",
  ]),
  flagChange(
    "/admin/flags/{key}/rollback",
    "adminRollbackFlag",
    "Restore an earlier version's definition as a new version",
    { schema: named("RollbackRequest", RollbackRequest), required: true },
    ["adminFlags-rollback"],
  ),
  flagChange(
    "/admin/flags/{key}/overrides",
    "adminSetFlagOverride",
    "Fix one user's value (null removes the override)",
    { schema: named("OverrideRequest", OverrideRequest), required: true },
    ["adminFlags-override"],
  ),
  {
    method: "GET",
    path: "/admin/flags/{key}/history",
    operationId: "adminFlagHistory",
    functionName: "adminFlags",
    tag: "Admin: flags",
    summary: "A flag's versions, newest first",
    auth: "admin",
    pathParams: FLAG,
    query: HistoryQuery,
    responses: {
      200: ok("The versions", named("FlagHistory", FlagHistoryResponse)),
      404: { ...E[404], description: "No such flag" },
      ...errorsOf("admin", { validates: true }),
    },
    events: ["adminFlags-history"],
  },

  // Error reports
  {
    method: "POST",
    path: "/system/errors/report",
    operationId: "reportError",
    functionName: "errorsReport",
    tag: "Error reports",
    summary: "Send one scrubbed error report (grouped, rate-limited)",
    description: "A resend of a report id answers `duplicate` and changes nothing. At most 64 KiB.",
    auth: true,
    body: { schema: named("ErrorReport", ErrorReportBody), required: true },
    responses: {
      202: ok("Accepted: the report's id and group", named("ErrorReportAccepted", IntakeResponse)),
      429: {
        description: "Too many reports from this user or of this error; retry after Retry-After",
        body: named("RateLimitedError", RateLimitedError),
        headers: ["Retry-After"],
      },
      ...errorsOf(true, { json: true, body: true, validates: true }),
    },
    events: ["errorsReport"],
  },
  {
    method: "GET",
    path: "/system/errors",
    operationId: "listErrorGroups",
    functionName: "errorsList",
    tag: "Error reports",
    summary: "Top error groups of a period, with counts and samples",
    auth: "admin",
    query: ErrorGroupsQuery,
    responses: {
      200: ok("The top groups", named("ErrorGroups", ErrorGroupsResponse)),
      ...errorsOf("admin", { validates: true }),
    },
    events: ["errorsList"],
  },

  // Documentation
  {
    method: "GET",
    path: "/openapi.json",
    operationId: "getOpenApiDocument",
    functionName: "docs",
    tag: "Documentation",
    summary: "This OpenAPI 3.1 document",
    auth: false,
    responses: { 200: ok("The document", named("OpenApiDocument", OpenApiDocument)), 500: E[500] },
    events: ["docs"],
  },
  {
    method: "GET",
    path: "/docs",
    operationId: "getReferencePage",
    functionName: "docs",
    tag: "Documentation",
    summary: "The API reference page (Redoc)",
    auth: false,
    responses: {
      200: {
        description: "HTML page",
        text: { contentType: "text/html", description: "The reference page" },
      },
      500: E[500],
    },
    events: ["docs-page"],
  },
  {
    method: "GET",
    path: "/docs/redoc.standalone.js",
    operationId: "getReferenceRenderer",
    functionName: "docs",
    tag: "Documentation",
    summary: "The Redoc renderer the reference page loads (bundled, no CDN)",
    auth: false,
    responses: {
      200: {
        description: "JavaScript",
        text: { contentType: "application/javascript", description: "redoc.standalone.js" },
        headers: ["Cache-Control"],
      },
      500: E[500],
    },
    events: ["docs-renderer"],
  },
];
