/**
 * The API's request and response types, from one entry point, for a TypeScript client (the
 * extension): `import type { ConsumeRequest, ConsumeResponse, ApiRoutes } from ".../lib/api-types.ts"`.
 * Every type is inferred from the zod schema the document (openapi.json) is generated from:
 * requests from the schemas the handlers validate with (input side: what a client may send, so
 * fields with defaults are optional), responses from lib/openapi/responses.ts (whose shapes are
 * checked against the code at compile time). Types only: importing this file adds no code.
 */
import type { z } from "zod";
import type { ErrorGroupsQuery, ErrorReportBody } from "#lib/error-reports/schema";
import type {
  FlagPatch,
  HistoryQuery,
  KillRequest,
  OverrideRequest,
  RollbackRequest,
} from "#lib/flags/admin";
import type * as R from "#lib/openapi/responses";
import type { OfrepRequest, UsageSync } from "#lib/openapi/routes";
import type {
  CheckRequest as CheckSchema,
  ConsumeRequest as ConsumeSchema,
  ReleaseRequest as ReleaseSchema,
} from "#lib/quotas";
import type { AnalyticsBody, AnalyticsQuery } from "#lib/usage/analytics";
import type { UsageEvent as UsageEventSchema } from "#lib/usage/event";

/* ------------------------------------------------------------------ requests */

export type CheckRequest = z.input<typeof CheckSchema>;
export type ConsumeRequest = z.input<typeof ConsumeSchema>;
export type ReleaseRequest = z.input<typeof ReleaseSchema>;
export type UsageEvent = z.input<typeof UsageEventSchema>;
export type UsageSyncRequest = z.input<typeof UsageSync>;
export type AnalyticsRequest = NonNullable<z.input<typeof AnalyticsBody>>;
export type AnalyticsQueryParams = z.input<typeof AnalyticsQuery>;
export type OfrepEvaluationRequest = z.input<typeof OfrepRequest>;
export type ErrorReportRequest = z.input<typeof ErrorReportBody>;
export type ErrorGroupsQueryParams = z.input<typeof ErrorGroupsQuery>;
export type FlagPatchRequest = z.input<typeof FlagPatch>;
export type KillFlagRequest = NonNullable<z.input<typeof KillRequest>>;
export type RollbackFlagRequest = z.input<typeof RollbackRequest>;
export type FlagOverrideRequest = z.input<typeof OverrideRequest>;
export type FlagHistoryQueryParams = z.input<typeof HistoryQuery>;

/* ------------------------------------------------------------------ responses */

export type HealthResponse = z.output<typeof R.HealthReport>;
export type LimitsResponse = z.output<typeof R.LimitsReport>;
export type CheckResponse = z.output<typeof R.CheckResult>;
export type ConsumeResponse = z.output<typeof R.ConsumeResult>;
export type ReleaseResponse = z.output<typeof R.ReleaseResult>;
export type BulkTrackResponse = z.output<typeof R.BulkTrackResult>;
export type AnalyticsResponse = z.output<typeof R.AnalyticsReport>;
export type UserFeaturesResponse = z.output<typeof R.UserFeaturesResponse>;
export type OfrepBulkResponse = z.output<typeof R.OfrepBulkResponse>;
export type OfrepEvaluationResponse = z.output<typeof R.OfrepEvaluationResponse>;
export type OfrepBadRequestResponse = z.output<typeof R.OfrepBadRequest>;
export type OfrepNotFoundResponse = z.output<typeof R.OfrepNotFound>;
export type VersionedFlagResponse = z.output<typeof R.VersionedFlagResponse>;
export type FlagListResponse = z.output<typeof R.FlagListResponse>;
export type FlagHistoryResponse = z.output<typeof R.FlagHistoryResponse>;
export type ErrorReportAcceptedResponse = z.output<typeof R.IntakeResponse>;
export type ErrorGroupsResponse = z.output<typeof R.ErrorGroupsResponse>;

/* ------------------------------------------------------------------ errors */

export type ErrorCode = (typeof R.ERROR_CODES)[number];
/** Any `{ detail, code, request_id }` error body (extra fields by status below). */
export type ErrorBody = { detail: string; code: ErrorCode; request_id: string };
export type ValidationErrorBody = z.output<typeof R.ValidationError>;
export type PayloadTooLargeErrorBody = z.output<typeof R.PayloadTooLargeError>;
export type ConflictErrorBody = z.output<typeof R.ConflictError>;
export type QuotaExceededErrorBody = z.output<typeof R.QuotaExceededError>;
export type RateLimitedErrorBody = z.output<typeof R.RateLimitedError>;

/* ------------------------------------------------------------------ routes */

/**
 * Every route by its `METHOD /path` key: the JSON body it takes (`never` when none), its query
 * parameters, and its success body. Error bodies are ErrorBody (and the variants above).
 */
export interface ApiRoutes {
  "GET /system/health/extension": { body: never; query: never; response: HealthResponse };
  "GET /users/limits/current": { body: never; query: never; response: LimitsResponse };
  "POST /users/limits/check": { body: CheckRequest; query: CheckRequest; response: CheckResponse };
  "POST /users/limits/consume": { body: ConsumeRequest; query: never; response: ConsumeResponse };
  "POST /users/limits/release": { body: ReleaseRequest; query: never; response: ReleaseResponse };
  "POST /users/usage/bulk-track": { body: UsageSyncRequest; query: never; response: BulkTrackResponse };
  "POST /users/usage/analytics": {
    body: AnalyticsRequest;
    query: AnalyticsQueryParams;
    response: AnalyticsResponse;
  };
  "GET /users/usage/analytics": { body: never; query: AnalyticsQueryParams; response: AnalyticsResponse };
  "GET /users/features": { body: never; query: never; response: UserFeaturesResponse };
  "POST /ofrep/v1/evaluate/flags": {
    body: OfrepEvaluationRequest;
    query: never;
    response: OfrepBulkResponse;
  };
  "POST /ofrep/v1/evaluate/flags/{key}": {
    body: OfrepEvaluationRequest;
    query: never;
    response: OfrepEvaluationResponse;
  };
  "GET /admin/flags": { body: never; query: never; response: FlagListResponse };
  "GET /admin/flags/{key}": { body: never; query: never; response: VersionedFlagResponse };
  "PUT /admin/flags/{key}": { body: FlagPatchRequest; query: never; response: VersionedFlagResponse };
  "POST /admin/flags/{key}/kill": { body: KillFlagRequest; query: never; response: VersionedFlagResponse };
  "POST /admin/flags/{key}/unkill": { body: never; query: never; response: VersionedFlagResponse };
  "POST /admin/flags/{key}/rollback": {
    body: RollbackFlagRequest;
    query: never;
    response: VersionedFlagResponse;
  };
  "POST /admin/flags/{key}/overrides": {
    body: FlagOverrideRequest;
    query: never;
    response: VersionedFlagResponse;
  };
  "GET /admin/flags/{key}/history": {
    body: never;
    query: FlagHistoryQueryParams;
    response: FlagHistoryResponse;
  };
  "POST /system/errors/report": {
    body: ErrorReportRequest;
    query: never;
    response: ErrorReportAcceptedResponse;
  };
  "GET /system/errors": { body: never; query: ErrorGroupsQueryParams; response: ErrorGroupsResponse };
}
