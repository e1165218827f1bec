/**
 * `npm run openapi`: writes openapi.json from the route registry (lib/openapi/routes.ts).
 * `npm run openapi -- --check`: exits 1 when the committed openapi.json differs from a fresh
 * generation (CI), without writing anything.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { renderOpenApi } from "#lib/openapi/document";

const file = new URL("../openapi.json", import.meta.url);
const fresh = renderOpenApi();

if (process.argv.includes("--check")) {
  const committed = existsSync(file) ? readFileSync(file, "utf8") : "";
  if (committed !== fresh) {
    console.error("openapi.json is out of date: run `npm run openapi` and commit the result.");
    process.exit(1);
  }
  console.log("openapi.json is up to date.");
} else {
  writeFileSync(file, fresh);
  console.log(`openapi.json written (${fresh.length} bytes).`);
}
