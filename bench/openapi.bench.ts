import { gzipSync } from "node:zlib";
import { ms, time } from "./harness.ts";

/**
 * The API contract: how long a generation takes, what the document and the reference page weigh
 * (raw and gzip), the docs function's warm latency in-process, and the cost of one contract check
 * of a response (what validating every e2e response adds).
 */
export async function run(): Promise<string> {
  const { renderOpenApi } = await import("#lib/openapi/document");
  const { readRenderer, REFERENCE_PAGE } = await import("#lib/openapi/reference");
  const { handler } = await import("../functions/docs.ts");
  const { checkContract } = await import("../tests/e2e/contract.ts");
  const { loadEvent } = await import("../tests/helpers.ts");

  const generation = await time(async () => renderOpenApi(), 20, 3);
  const document = renderOpenApi();
  const renderer = readRenderer();
  const kb = (bytes: number) => (bytes < 4096 ? `${bytes} B` : `${(bytes / 1024).toFixed(0)} KiB`);
  const size = (text: string) => `${kb(Buffer.byteLength(text))} (${kb(gzipSync(text).length)} gzip)`;

  const docEvent = loadEvent("docs");
  const jsEvent = loadEvent("docs-renderer");
  const serveDoc = await time(() => handler(docEvent), 200);
  const serveJs = await time(() => handler(jsEvent), 200);

  const limits = JSON.stringify({
    plan: "free",
    timezone: "UTC",
    daily_limit: 20,
    daily_used: 0,
    daily_remaining: 20,
    monthly_limit: 300,
    monthly_used: 0,
    monthly_remaining: 300,
    remaining_credits: 20,
    resets_at: "2026-12-04T00:00:00.000Z",
    monthly_resets_at: "2027-01-01T00:00:00.000Z",
    binding_window: "daily",
  });
  const response = () =>
    new Response(limits, {
      status: 200,
      headers: { "content-type": "application/json", "x-request-id": "r" },
    });
  const check = await time(() => checkContract("GET", "http://x/users/limits/current", response()), 1000, 50);

  const operations = Object.values(JSON.parse(document).paths as Record<string, object>).reduce(
    (n: number, item) => n + Object.keys(item).length,
    0,
  );
  return [
    "## API contract (OpenAPI, reference page, contract checks)",
    "",
    `${operations} operations. In-process, warm; milliseconds per call.`,
    "",
    "| what | figure |",
    "| --- | --- |",
    `| \`npm run openapi\` generation (p50 of ${generation.n}) | ${ms(generation.p50)} |`,
    `| openapi.json | ${size(document)} |`,
    `| /docs page | ${size(REFERENCE_PAGE)} |`,
    `| /docs/redoc.standalone.js | ${size(renderer)} |`,
    `| GET /openapi.json handler p50 / p99 | ${ms(serveDoc.p50)} / ${ms(serveDoc.p99)} |`,
    `| GET /docs/redoc.standalone.js handler p50 / p99 | ${ms(serveJs.p50)} / ${ms(serveJs.p99)} |`,
    `| one contract check of a response (ajv, compiled) p50 / p99 | ${ms(check.p50)} / ${ms(check.p99)} |`,
    "",
  ].join("\n");
}
