import { readFileSync } from "node:fs";
import { z } from "zod";
import { type Named, type ResponseHeader, ROUTES, type RouteSpec, routeKeyOf } from "#lib/openapi/routes";

/*
 * Builds the OpenAPI 3.1 document from the route registry. Request schemas are rendered in zod's
 * "input" mode (what a client may send: defaults make fields optional), response schemas in
 * "output" mode (what the code returns: every object closed with additionalProperties: false).
 * The output depends on nothing but the code and events/, so generation is byte-for-byte stable.
 */

type Json = Record<string, unknown>;

const EVENTS_DIR = new URL("../../events/", import.meta.url);

/** A sample event of events/ (request examples come from the same files the tests use). */
function readEvent(name: string): {
  body?: string | null;
  queryStringParameters?: Record<string, string>;
  pathParameters?: Record<string, string>;
} {
  return JSON.parse(readFileSync(new URL(`${name}.json`, EVENTS_DIR), "utf8"));
}

/** A zod schema as a JSON Schema 2020-12 object (the dialect of OpenAPI 3.1), without `$schema`. */
export function jsonSchemaOf(schema: z.ZodType, io: "input" | "output"): Json {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io }) as Json;
  return rest;
}

/** Response headers; `required` ones are always sent (the contract check insists on them). */
const HEADERS: Record<ResponseHeader | "X-Request-Id", Json> = {
  "X-Request-Id": {
    description: "The request id (also `request_id` of error bodies)",
    required: true,
    schema: { type: "string" },
  },
  ETag: { description: "Tag of the body, for If-None-Match", required: true, schema: { type: "string" } },
  "Retry-After": {
    description: "Seconds to wait before retrying",
    required: true,
    schema: { type: "integer", minimum: 1 },
  },
  "Cache-Control": { description: "How long the answer may be reused", schema: { type: "string" } },
  "WWW-Authenticate": {
    description: 'Bearer error="invalid_token"',
    required: true,
    schema: { type: "string" },
  },
  CORS: {
    description: "Access-Control-Allow-Methods/-Headers/-Max-Age, for allowed extension origins only",
    schema: { type: "string" },
  },
};

const TAGS: { name: RouteSpec["tag"]; description: string }[] = [
  { name: "Health", description: "Service status for the extension, and CORS" },
  { name: "Quotas", description: "Credit limits: current usage, check, consume (idempotent) and release" },
  { name: "Usage", description: "Usage events (offline sync, exactly once) and the analytics dashboard" },
  { name: "Features", description: "Feature switches and plan configuration for the extension" },
  { name: "OFREP", description: "OpenFeature Remote Evaluation Protocol, for stock OpenFeature providers" },
  { name: "Admin: flags", description: "Operating feature flags (admin role required)" },
  {
    name: "Error reports",
    description: "Scrubbed error reports from the extension, and their listing (admin)",
  },
  { name: "Documentation", description: "This document and its reference page" },
];

/** Collects named component schemas; a name may only ever stand for one schema. */
class Components {
  readonly schemas: Record<string, Json> = {};
  private readonly seen = new Map<string, z.ZodType>();

  ref(named: Named, io: "input" | "output"): Json {
    const previous = this.seen.get(named.name);
    if (previous && previous !== named.schema) {
      throw new Error(`two different schemas are named ${named.name} in lib/openapi/routes.ts`);
    }
    if (!previous) {
      this.seen.set(named.name, named.schema);
      this.schemas[named.name] = jsonSchemaOf(named.schema, io);
    }
    return { $ref: `#/components/schemas/${named.name}` };
  }
}

function parametersOf(route: RouteSpec, examples: ReturnType<typeof readEvent>[]): Json[] {
  const params: Json[] = [];
  for (const [name, schema] of Object.entries(route.pathParams ?? {})) {
    const example = examples.find((e) => e.pathParameters?.[name])?.pathParameters?.[name];
    params.push({
      name,
      in: "path",
      required: true,
      description: schema.description,
      schema: jsonSchemaOf(schema, "input"),
      ...(example !== undefined && { example }),
    });
  }
  if (route.query) {
    const query = jsonSchemaOf(route.query, "input") as {
      properties?: Record<string, Json>;
      required?: string[];
    };
    // Examples are the sample events' query strings, parsed as the handler parses them ("5" → 5).
    const parsed = examples.map(
      (e) => (route.query?.safeParse(e.queryStringParameters ?? {}).data ?? {}) as Record<string, unknown>,
    );
    for (const [name, schema] of Object.entries(query.properties ?? {})) {
      const example = examples
        .map((e, i) => (e.queryStringParameters?.[name] === undefined ? undefined : parsed[i]?.[name]))
        .find((v) => v !== undefined);
      params.push({
        name,
        in: "query",
        required: query.required?.includes(name) ?? false,
        description: schema.description,
        schema,
        ...(example !== undefined && { example }),
      });
    }
  }
  for (const header of route.headers ?? []) {
    params.push({
      name: header.name,
      in: "header",
      required: false,
      description: header.description,
      schema: jsonSchemaOf(header.schema, "input"),
    });
  }
  return params;
}

function requestBodyOf(route: RouteSpec, components: Components, eventNames: string[]): Json | undefined {
  if (!route.body) return undefined;
  const examples: Record<string, Json> = {};
  for (const name of eventNames) {
    const body = readEvent(name).body;
    if (body) examples[name] = { summary: `events/${name}.json`, value: JSON.parse(body) };
  }
  return {
    required: route.body.required,
    content: {
      "application/json": {
        schema: components.ref(route.body.schema, "input"),
        ...(Object.keys(examples).length > 0 && { examples }),
      },
    },
  };
}

function responsesOf(route: RouteSpec, components: Components): Json {
  const out: Json = {};
  const statuses = Object.keys(route.responses)
    .map(Number)
    .sort((a, b) => a - b);
  for (const status of statuses) {
    const spec = route.responses[status];
    if (!spec) continue;
    const headers: Json = {};
    for (const name of ["X-Request-Id", ...(spec.headers ?? [])] as (keyof typeof HEADERS)[]) {
      // A 5xx may come from API Gateway itself, without our headers: there they are optional.
      headers[name] =
        status >= 500
          ? {
              ...HEADERS[name],
              required: false,
              description: `${HEADERS[name]?.description} (not from API Gateway)`,
            }
          : { $ref: `#/components/headers/${name}` };
    }
    const response: Json = { description: spec.description, headers };
    if (spec.body) response.content = { "application/json": { schema: components.ref(spec.body, "output") } };
    if (spec.text) {
      response.content = {
        [spec.text.contentType]: { schema: { type: "string", description: spec.text.description } },
      };
    }
    out[String(status)] = response;
  }
  return out;
}

function operationOf(route: RouteSpec, components: Components): Json {
  const eventNames = route.events ?? [];
  const examples = eventNames.map(readEvent);
  const auth =
    route.auth === "admin"
      ? "Requires a Bearer token with the admin role."
      : route.auth
        ? "Requires a Bearer token."
        : "No authentication.";
  const parameters = parametersOf(route, examples);
  const requestBody = requestBodyOf(route, components, eventNames);
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: [route.description, auth, `Served by the \`${route.functionName}\` function.`]
      .filter(Boolean)
      .join("\n\n"),
    tags: [route.tag],
    security: route.auth ? [{ bearerAuth: [] }] : [],
    ...(parameters.length > 0 && { parameters }),
    ...(requestBody && { requestBody }),
    responses: responsesOf(route, components),
    ...(route.auth === "admin" && { "x-required-role": "admin" }),
    "x-route-key": routeKeyOf(route),
    "x-function": route.functionName,
  };
}

/** The version of package.json: the document's `info.version`. */
function packageVersion(): string {
  return JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
}

/** The OpenAPI 3.1 document of every route. */
export function buildOpenApi(routes: readonly RouteSpec[] = ROUTES, version = packageVersion()): Json {
  const components = new Components();
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const item = paths[route.path] ?? {};
    paths[route.path] = item;
    const method = route.method.toLowerCase();
    if (item[method]) throw new Error(`${route.method} ${route.path} is registered twice`);
    item[method] = operationOf(route, components);
  }
  const sortedPaths = Object.fromEntries(
    Object.entries(paths).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return {
    openapi: "3.1.0",
    info: {
      title: "Prompt-upgrade extension backend",
      version,
      description:
        "The HTTP API of the browser extension's backend: quotas, usage, feature flags (also as OFREP), " +
        "error reports and health. Generated from the zod schemas that validate the requests " +
        "(`npm run openapi`); do not edit by hand.\n\n" +
        "Every error body is `{ detail, code, request_id }` (OFREP routes add their protocol's " +
        "`{ errorCode, errorDetails }` for 400/404). Every response carries `X-Request-Id`.",
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
    },
    servers: [{ url: "http://localhost:3000", description: "Local stack (npm start)" }],
    security: [{ bearerAuth: [] }],
    tags: TAGS,
    paths: sortedPaths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "A JWT of the identity provider (`sub` is the user id; `roles` may hold `admin`)",
        },
      },
      headers: Object.fromEntries(Object.entries(HEADERS).map(([name, header]) => [name, header])),
      schemas: Object.fromEntries(
        Object.entries(components.schemas).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      ),
    },
  };
}

/** The document as the committed file: 2-space JSON and a final newline. */
export function renderOpenApi(document: Json = buildOpenApi()): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
