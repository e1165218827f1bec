/**
 * `npx tsx scripts/check-package.ts .serverless`: after `serverless package`, proves the artifact is
 * what we deploy: one bundle per function (package.individually), every HTTP API route, the table
 * with its TTL attribute, and a schedule for every scheduled function. Exits 1 with the reasons.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2] ?? ".serverless";
const state = JSON.parse(readFileSync(join(dir, "serverless-state.json"), "utf8"));
const template = JSON.parse(readFileSync(join(dir, "cloudformation-template-update-stack.json"), "utf8"));
const resources: Record<string, { Type: string; Properties: Record<string, unknown> }> = template.Resources;
const problems: string[] = [];
const lines: string[] = [];

const functions: Record<string, { events?: Record<string, unknown>[]; package?: { artifact?: string } }> =
  state.service.functions;
for (const [name, fn] of Object.entries(functions)) {
  const artifact = join(dir, `${name}.zip`);
  if (!existsSync(artifact)) problems.push(`no bundle ${artifact} for function ${name}`);
  else lines.push(`${name}: ${(statSync(artifact).size / 1024).toFixed(0)} KiB zipped`);
  for (const event of fn.events ?? []) {
    if ("httpApi" in event) {
      const { method, path } = event.httpApi as { method: string; path: string };
      const routeKey = `${method.toUpperCase()} ${path}`;
      const found = Object.values(resources).some(
        (r) => r.Type === "AWS::ApiGatewayV2::Route" && r.Properties.RouteKey === routeKey,
      );
      if (!found) problems.push(`route ${routeKey} of ${name} is not in the template`);
    }
    if ("schedule" in event) {
      const found = Object.values(resources).some(
        (r) =>
          (r.Type === "AWS::Events::Rule" || r.Type === "AWS::Scheduler::Schedule") &&
          JSON.stringify(r).includes(name),
      );
      if (!found) problems.push(`schedule of ${name} is not in the template`);
    }
  }
}

const table = Object.values(resources).find((r) => r.Type === "AWS::DynamoDB::Table");
const ttl = table?.Properties.TimeToLiveSpecification as
  | { AttributeName?: string; Enabled?: boolean }
  | undefined;
if (!table) problems.push("no DynamoDB table in the template");
else if (!ttl?.Enabled) problems.push("the table has no TTL specification");
else lines.push(`table ${String(table.Properties.TableName)} with TTL on ${ttl.AttributeName}`);
if (state.package?.individually !== true) problems.push("package.individually is not true");

console.log(lines.join("\n"));
console.log("");
if (problems.length) {
  console.error(`package check failed:\n- ${problems.join("\n- ")}`);
  process.exit(1);
}
console.log(`package check passed: ${Object.keys(functions).length} functions`);
