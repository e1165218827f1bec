import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import spec from "../../openapi.json" with { type: "json" };

/*
 * Contract checks of HTTP responses against the committed openapi.json (not against the zod
 * schemas it was generated from, so a generator bug shows up too): the status must be declared
 * for the operation, a JSON body must match the declared schema (objects are closed in the
 * document, so an undeclared field fails), an empty response must have no body, and the headers
 * the document marks required (X-Request-Id, ETag, Retry-After, WWW-Authenticate) must be there.
 */

interface MediaType {
  schema?: unknown;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
  headers?: Record<string, unknown>;
}
interface OperationObject {
  operationId: string;
  responses: Record<string, ResponseObject>;
  "x-route-key": string;
}

interface Operation {
  method: string;
  path: string;
  pattern: RegExp;
  /** Fewer parameters first: a literal path wins over a template. */
  params: number;
  operation: OperationObject;
}

type Document = {
  paths: Record<string, Record<string, OperationObject>>;
  components: { headers: Record<string, unknown> };
};
const document = spec as unknown as Document;

// ajv-formats is CommonJS; its default import is the plugin under either interop.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => void;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
ajv.addSchema(document as object, "openapi.json");

const regexEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Every operation of the document, matchable against a request's method and path. */
export const OPERATIONS: Operation[] = Object.entries(document.paths)
  .flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => {
      const greedy = operation["x-route-key"].includes("+}");
      const source = path
        .split(/(\{[^}]+\})/)
        .map((part) => (part.startsWith("{") ? (greedy ? "(.+)" : "([^/]+)") : regexEscape(part)))
        .join("");
      return {
        method: method.toUpperCase(),
        path,
        pattern: new RegExp(`^${source}$`),
        params: (path.match(/\{/g) ?? []).length,
        operation,
      };
    }),
  )
  .sort((a, b) => a.params - b.params);

/** The operation a request goes to, or undefined for a route the API does not have. */
export function operationFor(method: string, url: string): Operation | undefined {
  const path = new URL(url, "http://localhost").pathname;
  return OPERATIONS.find((o) => o.method === method.toUpperCase() && o.pattern.test(path));
}

const validators = new Map<string, ValidateFunction>();

function validatorFor(pointer: string): ValidateFunction {
  let validate = validators.get(pointer);
  if (!validate) {
    validate = ajv.compile({ $ref: `openapi.json#${pointer}` });
    validators.set(pointer, validate);
  }
  return validate;
}

/** A response header object, its `$ref` (into components.headers) followed. */
function resolveHeader(header: unknown): { required?: boolean } {
  const ref = (header as { $ref?: string }).$ref;
  if (!ref) return header as { required?: boolean };
  const name = ref.slice("#/components/headers/".length);
  return (document.components.headers[name] ?? {}) as { required?: boolean };
}

const pointerEscape = (s: string) => s.replaceAll("~", "~0").replaceAll("/", "~1");

export interface ContractResult {
  operationId?: string;
  status: number;
  violations: string[];
}

/**
 * Checks one response against the document. A request to a route the document does not have
 * (an unknown path answered by API Gateway) is not an operation: nothing to check.
 */
export async function checkContract(
  method: string,
  url: string,
  response: Response,
): Promise<ContractResult> {
  const found = operationFor(method, url);
  const status = response.status;
  if (!found) return { status, violations: [] };
  const { operation } = found;
  const where = `${method.toUpperCase()} ${new URL(url, "http://localhost").pathname} → ${status}`;
  const violations: string[] = [];
  const text = await response.clone().text();

  let declaredStatus = String(status);
  // serverless offline turns an empty 204 into 200 (tests/e2e/health.test.ts); API Gateway does not.
  if (status === 200 && !operation.responses["200"] && operation.responses["204"] && text === "") {
    declaredStatus = "204";
  }
  const declared = operation.responses[declaredStatus];
  if (!declared) {
    const statuses = Object.keys(operation.responses).join(", ");
    violations.push(`${where}: status ${status} is not declared for ${operation.operationId} (${statuses})`);
    return { operationId: operation.operationId, status, violations };
  }

  for (const [name, header] of Object.entries(declared.headers ?? {})) {
    if (resolveHeader(header).required && !response.headers.has(name)) {
      violations.push(`${where}: header ${name} is missing`);
    }
  }

  const contentTypes = Object.keys(declared.content ?? {});
  if (contentTypes.length === 0) {
    if (text !== "") violations.push(`${where}: a body was sent where none is declared`);
    return { operationId: operation.operationId, status, violations };
  }
  const contentType = response.headers.get("content-type") ?? "";
  const declaredType = contentTypes.find((t) => contentType.startsWith(t));
  if (!declaredType) {
    violations.push(`${where}: content-type "${contentType}" is not one of ${contentTypes.join(", ")}`);
    return { operationId: operation.operationId, status, violations };
  }
  if (declaredType !== "application/json") return { operationId: operation.operationId, status, violations };

  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    violations.push(`${where}: the body is not JSON: ${text.slice(0, 200)}`);
    return { operationId: operation.operationId, status, violations };
  }
  const pointer = `/paths/${pointerEscape(found.path)}/${method.toLowerCase()}/responses/${declaredStatus}/content/${pointerEscape(declaredType)}/schema`;
  const validate = validatorFor(pointer);
  if (!validate(body)) {
    for (const error of validate.errors ?? []) {
      const extra = error.keyword === "additionalProperties" ? ` (${JSON.stringify(error.params)})` : "";
      violations.push(`${where}: body${error.instancePath} ${error.message}${extra}`);
    }
    violations.push(`${where}: the body was ${text.slice(0, 300)}`);
  }
  return { operationId: operation.operationId, status, violations };
}

/** Fails the test when a response breaks the contract; returns the response for chaining. */
export async function expectContract(method: string, response: Response): Promise<Response> {
  const { violations } = await checkContract(method, response.url, response);
  expect(violations, "the response breaks the OpenAPI contract").toEqual([]);
  return response;
}

/** Every (operationId, status) a suite's responses covered, for coverage checks. */
export const covered = new Set<string>();

/**
 * Checks EVERY response the calling test file gets from `fetch` (its own calls and those of
 * clients it drives, such as the OpenFeature provider) against the contract; a test whose
 * responses break it fails after it ran. One call at the top of an e2e file.
 */
export function validateEveryResponse(): void {
  const original = globalThis.fetch;
  let pending: Promise<ContractResult>[] = [];
  beforeAll(() => {
    globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
      const response = await original(input, init);
      const method = init?.method ?? (input instanceof Request ? input.method : "GET");
      const url = input instanceof Request ? input.url : String(input);
      pending.push(
        checkContract(method, url, response).then((result) => {
          if (result.operationId) covered.add(`${result.operationId} ${result.status}`);
          return result;
        }),
      );
      return response;
    };
  });
  afterEach(async () => {
    const results = await Promise.all(pending);
    pending = [];
    expect(
      results.flatMap((r) => r.violations),
      "responses broke the OpenAPI contract",
    ).toEqual([]);
  });
  afterAll(() => {
    globalThis.fetch = original;
  });
}
