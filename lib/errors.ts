/**
 * The closed set of error codes the API answers with. Every error body is
 * `{ detail, code, request_id }`; `detail` is a sentence for people (as FastAPI sends it),
 * `code` is for programs.
 */
export type ErrorCode =
  | "BAD_REQUEST"
  | "INVALID_JSON"
  | "VALIDATION_FAILED"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "METHOD_NOT_ALLOWED"
  | "CONFLICT"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "QUOTA_EXCEEDED"
  | "RATE_LIMITED"
  | "UNAVAILABLE"
  | "INTERNAL";

/** One exhaustive switch: adding a code without a status does not compile. */
export function statusOf(code: ErrorCode): number {
  switch (code) {
    case "BAD_REQUEST":
    case "INVALID_JSON":
      return 400;
    case "UNAUTHORIZED":
      return 401;
    case "FORBIDDEN":
      return 403;
    case "NOT_FOUND":
      return 404;
    case "METHOD_NOT_ALLOWED":
      return 405;
    case "CONFLICT":
      return 409;
    case "PAYLOAD_TOO_LARGE":
      return 413;
    case "UNSUPPORTED_MEDIA_TYPE":
      return 415;
    case "VALIDATION_FAILED":
      return 422;
    case "QUOTA_EXCEEDED":
    case "RATE_LIMITED":
      return 429;
    case "UNAVAILABLE":
      return 503;
    case "INTERNAL":
      return 500;
  }
}

export interface AppErrorOptions {
  /** Extra fields merged into the error body (for example `errors` of a validation failure). */
  extra?: Record<string, unknown>;
  headers?: Record<string, string>;
  /** The underlying reason: logged, never sent to the caller. */
  cause?: unknown;
}

/** An error that knows its code (and so its status); the only kind domain code throws. */
export class AppError extends Error {
  override name = "AppError";
  readonly code: ErrorCode;
  readonly status: number;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, detail: string, options: AppErrorOptions = {}) {
    super(detail, { cause: options.cause });
    this.code = code;
    this.status = statusOf(code);
    this.extra = options.extra;
    this.headers = options.headers;
  }
}
