import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type HttpHandler, Reply, route } from "#lib/http";
import document from "../../openapi.json" with { type: "json" };

/*
 * What GET /openapi.json, /docs and /docs/redoc.standalone.js serve. The document is the
 * committed openapi.json, bundled into the function (CI proves it equals a fresh generation).
 * The renderer (Redoc's self-contained bundle, ~1 MB) is not bundled: the function reads it from
 * `node_modules/redoc/bundles/redoc.standalone.js` once per cold start. `serverless offline` runs
 * in the project directory, where npm installed it; `serverless package` copies it into the
 * function's zip (the `package.patterns` of the docs function in serverless.yml), where it lies
 * under LAMBDA_TASK_ROOT.
 */

/** The OpenAPI document, as committed. */
export const OPENAPI_DOCUMENT: Readonly<Record<string, unknown>> = document;

/** Where the renderer lies relative to the project (or the zip's) root. */
export const RENDERER_PATH = "node_modules/redoc/bundles/redoc.standalone.js";

/** The reference page: Redoc rendering /openapi.json, both fetched relative to the page (stage-safe). */
export const REFERENCE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API reference: prompt-upgrade extension backend</title>
<link rel="icon" href="data:,">
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<div id="redoc"></div>
<script src="docs/redoc.standalone.js"></script>
<script>
Redoc.init("openapi.json", {
  expandResponses: "200,202",
  requiredPropsFirst: true,
  sortPropsAlphabetically: false,
  hideHostname: false,
}, document.getElementById("redoc"));
</script>
</body>
</html>
`;

/**
 * The one thing Redoc's bundle fetches from the internet: the logo of its "API docs by Redocly"
 * link. It is served with an inline image instead, so the page makes no request off-site (the
 * link stays).
 */
export const REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";
const INLINE_LOGO = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E";

/** The renderer changes only with a deploy: caches may keep it a day. */
export const RENDERER_CACHE_CONTROL = "public, max-age=86400";

let renderer: string | undefined;

/**
 * Redoc's standalone bundle, read once: from the Lambda task root, else the working directory,
 * with its CDN logo made inline.
 */
export function readRenderer(): string {
  if (renderer !== undefined) return renderer;
  const roots = [
    process.env.LAMBDA_TASK_ROOT,
    process.cwd(),
    fileURLToPath(new URL("../..", import.meta.url)),
  ];
  for (const root of roots) {
    if (root && existsSync(join(root, RENDERER_PATH))) {
      renderer = readFileSync(join(root, RENDERER_PATH), "utf8").replaceAll(REDOC_CDN_LOGO, INLINE_LOGO);
      return renderer;
    }
  }
  throw new Error(`${RENDERER_PATH} is missing (not packaged with the docs function?)`);
}

/**
 * A public route answering text rather than JSON: route() gives it the request id, CORS, the log
 * line and the error model (a failure is the usual JSON 500); the text replaces the empty body.
 */
export function textRoute(contentType: string, cacheControl: string, produce: () => string): HttpHandler {
  return async (event, context) => {
    let text = "";
    const result = await route({ auth: false }, () => {
      text = produce();
      return new Reply(200, undefined, { "Content-Type": contentType, "Cache-Control": cacheControl });
    })(event, context);
    return result.statusCode === 200 ? { ...result, body: text } : result;
  };
}
