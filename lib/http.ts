import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import type { z } from "zod";
import { type AuthUser, authenticate, requireAdmin } from "#lib/auth";
import { config, isAllowedOrigin } from "#lib/config";
import { isDatabaseUnavailable } from "#lib/db/errors";
import { AppError } from "#lib/errors";
import { describeError, log } from "#lib/log";

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;
export type HttpHandler = (event: HttpEvent, context?: Partial<Context>) => Promise<HttpResult>;

type Schema = z.ZodType;
type Infer<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteOptions<
  A extends boolean | "admin",
  B extends Schema | undefined,
  Q extends Schema | undefined,
> {
  /** `true`: a valid Bearer token is required; `"admin"`: and the admin role. */
  auth: A;
  /** Schema of the JSON body. It receives `undefined` when the body is empty. */
  body?: B;
  /** Schema of the query string (values are strings; use `z.coerce` for numbers). */
  query?: Q;
  /** Body size cap in bytes, checked before parsing (defaults to MAX_BODY_BYTES). */
  maxBodyBytes?: number;
}

export interface RequestContext<B, Q, U> {
  event: HttpEvent;
  requestId: string;
  /** Header names in lower case. */
  headers: Record<string, string | undefined>;
  user: U;
  body: B;
  query: Q;
  /** Receive time of the request, the one clock reading a request uses. */
  now: Date;
}

/** A response with a status or headers other than 200 JSON. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body?: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

const SECURITY_HEADERS = {
  "Content-Type": "application/json",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-store",
};

/**
 * Wraps a route's logic into a Lambda handler: request id, body size cap (413), JSON parsing
 * (400), zod validation of body and query (422 with field paths), authentication (401/403),
 * CORS for the configured extension origins, one error model and one log line per request.
 * The logic returns a plain value (sent as 200 JSON) or a Reply.
 */
export function route<
  A extends boolean | "admin",
  B extends Schema | undefined = undefined,
  Q extends Schema | undefined = undefined,
>(
  options: RouteOptions<A, B, Q>,
  logic: (ctx: RequestContext<Infer<B>, Infer<Q>, A extends false ? undefined : AuthUser>) => unknown,
): HttpHandler {
  return async (event) => {
    const started = performance.now();
    const now = new Date();
    const headers = lowerCaseHeaders(event.headers);
    // serverless offline sends one fixed placeholder id; there (and when absent) make a real one.
    const givenId = event.requestContext?.requestId;
    const requestId = givenId && !process.env.IS_OFFLINE ? givenId : crypto.randomUUID();
    let user: AuthUser | undefined;
    let result: HttpResult;
    let errorCode: string | undefined;
    try {
      if (event.requestContext?.http?.method === "OPTIONS") {
        result = preflight(headers);
      } else {
        const raw = readBody(event, options.maxBodyBytes ?? config.MAX_BODY_BYTES);
        if (options.auth) {
          user = await authenticate(headers.authorization);
          if (options.auth === "admin") requireAdmin(user);
        }
        const body = options.body ? validate(options.body, parseJson(raw), "body") : undefined;
        const query = options.query
          ? validate(options.query, event.queryStringParameters ?? {}, "query")
          : undefined;
        const value = await logic({
          event,
          requestId,
          headers,
          user: user as A extends false ? undefined : AuthUser,
          body: body as Infer<B>,
          query: query as Infer<Q>,
          now,
        });
        result = toResult(value instanceof Reply ? value : new Reply(200, value));
      }
    } catch (error) {
      const appError = toAppError(error, requestId);
      errorCode = appError.code;
      result = toResult(
        new Reply(
          appError.status,
          { detail: appError.message, code: appError.code, request_id: requestId, ...appError.extra },
          appError.headers,
        ),
      );
    }
    result.headers = { ...result.headers, ...corsHeaders(headers.origin), "X-Request-Id": requestId };
    log("info", "request", {
      route: event.routeKey,
      status: result.statusCode,
      latency_ms: Math.round((performance.now() - started) * 10) / 10,
      user_id: user?.id,
      request_id: requestId,
      code: errorCode,
    });
    return result;
  };
}

function toResult(reply: Reply): HttpResult {
  return {
    statusCode: reply.status,
    headers: { ...SECURITY_HEADERS, ...reply.headers },
    body: reply.body === undefined ? "" : JSON.stringify(reply.body),
  };
}

/** Any thrown value as an AppError: database outages become 503, anything unknown a bare 500. */
function toAppError(error: unknown, requestId: string): AppError {
  if (error instanceof AppError) {
    if (error.status >= 500 || error.status === 401) {
      log(error.status >= 500 ? "error" : "info", error.message, {
        request_id: requestId,
        code: error.code,
        reason: error.cause instanceof Error ? describeError(error.cause) : error.cause,
      });
    }
    return error;
  }
  if (isDatabaseUnavailable(error)) {
    log("error", "database unavailable", { request_id: requestId, ...describeError(error) });
    return new AppError("UNAVAILABLE", "The service is temporarily unavailable; try again shortly", {
      headers: { "Retry-After": "2" },
    });
  }
  log("error", "unhandled error", {
    request_id: requestId,
    ...describeError(error),
    stack: error instanceof Error ? error.stack : undefined,
  });
  return new AppError("INTERNAL", "Internal server error");
}

function lowerCaseHeaders(raw: HttpEvent["headers"] | undefined): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(raw ?? {})) out[name.toLowerCase()] = value;
  return out;
}

/** The raw body as text, refused with 413 past the cap before anything parses it. */
function readBody(event: HttpEvent, maxBytes: number): string | undefined {
  if (event.body === undefined || event.body === null || event.body === "") return undefined;
  const size = event.isBase64Encoded
    ? Math.floor((event.body.length * 3) / 4)
    : Buffer.byteLength(event.body);
  if (size > maxBytes) {
    throw new AppError("PAYLOAD_TOO_LARGE", `The request body is larger than ${maxBytes} bytes`, {
      extra: { max_bytes: maxBytes },
    });
  }
  return event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
}

function parseJson(raw: string | undefined): unknown {
  if (raw === undefined || raw.trim() === "") return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new AppError("INVALID_JSON", "The request body is not valid JSON");
  }
}

export interface FieldError {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/**
 * Parses input with a schema; a failure is a 422 whose `detail` sentence names each field path
 * and whose `errors` list has FastAPI's `{ loc, msg, type }` entries.
 */
export function validate<S extends Schema>(schema: S, input: unknown, where: "body" | "query"): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const errors: FieldError[] = parsed.error.issues.slice(0, 20).map((issue) => ({
    loc: [where, ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))],
    msg: issue.message,
    type: issue.code,
  }));
  const sentence = errors.map((e) => `${e.loc.join(".")}: ${e.msg}`).join("; ");
  throw new AppError("VALIDATION_FAILED", `Invalid request: ${sentence}`, { extra: { errors } });
}

/** CORS headers for an allowed extension origin; nothing for any other origin. */
export function corsHeaders(origin: string | undefined): Record<string, string> {
  if (!origin || !isAllowedOrigin(origin)) return {};
  return {
    "Access-Control-Allow-Origin": origin,
    "Access-Control-Expose-Headers": "ETag, Retry-After, X-Request-Id",
    Vary: "Origin",
  };
}

/** The answer to a CORS preflight: 204 with the allowed methods and headers for allowed origins. */
export function preflight(headers: Record<string, string | undefined>): HttpResult {
  const allowed = headers.origin ? isAllowedOrigin(headers.origin) : false;
  return {
    statusCode: 204,
    headers: allowed
      ? {
          "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
          "Access-Control-Allow-Headers":
            "Authorization, Content-Type, Idempotency-Key, If-None-Match, X-Extension-Version",
          "Access-Control-Max-Age": "7200",
        }
      : {},
    body: "",
  };
}
