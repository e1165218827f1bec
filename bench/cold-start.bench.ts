/**
 * Cold start: builds every function in functions/ with the esbuild options of serverless.yml
 * (bundled, minified, ESM, node20) and measures, in fresh `node` processes, how long importing the
 * bundle takes, next to a floor bundle that holds only the DynamoDB document client (the least any
 * handler here imports). Medians of several processes; the ratio is what the budget (1.3×) reads.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { percentile } from "./harness.ts";

const RUNS = Number(process.env.COLD_RUNS ?? 9);
const root = resolve(new URL("..", import.meta.url).pathname);
const out = join(root, ".esbuild-bench");

const FLOOR_SOURCE = `
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
export const handler = async () => db.send(new GetCommand({ TableName: "t", Key: { PK: "a", SK: "b" } }));
`;

const plugins = createRequire(import.meta.url)("../esbuild-plugins.cjs");

async function bundle(entry: string, outfile: string) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    minify: true,
    format: "esm",
    platform: "node",
    target: "node20",
    mainFields: ["module", "main"],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    plugins,
    logLevel: "silent",
  });
  return statSync(outfile).size;
}

/** Import time of a bundle in one fresh node process, in milliseconds. */
function importOnce(file: string): number {
  const script = `const t=performance.now();await import(${JSON.stringify(file)});process.stdout.write(String(performance.now()-t));`;
  const output = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    env: {
      PATH: process.env.PATH,
      STAGE: "local",
      LOG_LEVEL: "silent",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
    encoding: "utf8",
  });
  return Number(output);
}

/**
 * Medians of a bundle's and the floor's import times, measured alternately (floor, bundle, floor, ...)
 * so that load from other processes on this shared machine hits both alike.
 */
function coldImportAgainstFloor(file: string, floorFile: string): { ms: number; floor: number } {
  const mine: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    floor.push(importOnce(floorFile));
    mine.push(importOnce(file));
  }
  return { ms: percentile(mine, 50), floor: percentile(floor, 50) };
}

export async function run(): Promise<string> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const floorEntry = join(out, "floor-entry.mjs");
  writeFileSync(floorEntry, FLOOR_SOURCE);
  const floorSize = await bundle(floorEntry, join(out, "floor.mjs"));
  const floorFile = join(out, "floor.mjs");
  const floors: number[] = [];

  const rows: string[] = [];
  let over = 0;
  for (const file of readdirSync(join(root, "functions"))
    .filter((f) => f.endsWith(".ts"))
    .sort()) {
    const name = file.slice(0, -3);
    const size = await bundle(join(root, "functions", file), join(out, `${name}.mjs`));
    const { ms, floor } = coldImportAgainstFloor(join(out, `${name}.mjs`), floorFile);
    floors.push(floor);
    const ratio = ms / floor;
    if (ratio > 1.3) over++;
    rows.push(
      `| ${name} | ${(size / 1024).toFixed(0)} KiB | ${ms.toFixed(1)} ms | ${floor.toFixed(1)} ms | ${ratio.toFixed(2)}× |`,
    );
  }
  rmSync(out, { recursive: true, force: true });
  return [
    "## Cold start: bundle size and cold import time",
    "",
    `Median of ${RUNS} fresh \`node\` processes importing each minified ESM bundle (esbuild options of serverless.yml),`,
    "alternating with the floor: a bundle with only the DynamoDB document client",
    `(${(floorSize / 1024).toFixed(0)} KiB; median of the floor medians ${percentile(floors, 50).toFixed(1)} ms).`,
    "",
    "| function | bundle | cold import | floor, same run | ratio |",
    "|---|---|---|---|---|",
    ...rows,
    "",
    `${over === 0 ? "Every" : `${rows.length - over} of ${rows.length}`} bundle${over === 0 ? "" : "s"} within the 1.3× budget.`,
  ].join("\n");
}
