/**
 * `npm start`: the whole stack on this machine. Starts dynalite (data under .data/), creates the
 * table, seeds the demo users, runs `serverless offline` on PORT (3000), and prints the base URL,
 * a token per demo user and a curl to try. Ctrl-C stops everything it started.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { LOCAL_DEFAULTS } from "#lib/config";
import { prepareLocalTable } from "./local-dynamo.ts";
import { DEMO_USERS, seedDemoUsers } from "./seed.ts";
import { signDevToken } from "./tokens.ts";

const port = Number(process.env.PORT ?? 3000);
const dbPort = Number(process.env.DYNAMODB_PORT ?? 8000);
const tableName = process.env.TABLE_NAME || LOCAL_DEFAULTS.TABLE_NAME;
const dataDir = process.env.DATA_DIR ?? ".data/dynalite";

mkdirSync(dataDir, { recursive: true });
const dynamo = await startDatabase();
const { client, created } = await prepareLocalTable(dynamo.endpoint, tableName);
const seeded = await seedDemoUsers(client, tableName);
console.log(
  `dynalite on ${dynamo.endpoint} (pid ${dynamo.process.pid}), table ${tableName} (${created}), ${seeded} demo users seeded`,
);

const offline: ChildProcess = spawn(
  "npx",
  ["serverless", "offline", "start", "--stage", "local", "--httpPort", String(port)],
  {
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      STAGE: "local",
      TABLE_NAME: tableName,
      DYNAMODB_ENDPOINT: dynamo.endpoint,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "local",
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "local",
    },
    detached: true,
  },
);

// serverless offline prints its banner on stdout or stderr depending on the terminal: watch both.
let announced = false;
const watch = (out: NodeJS.WriteStream) => async (chunk: Buffer) => {
  out.write(chunk);
  if (!announced && /Server ready/.test(chunk.toString())) {
    announced = true;
    await announce();
  }
};
offline.stdout?.on("data", watch(process.stdout));
offline.stderr?.on("data", watch(process.stderr));

async function announce() {
  const base = `http://localhost:${port}`;
  console.log(`\nextension-backend is running at ${base}\n`);
  for (const user of DEMO_USERS) {
    console.log(
      `token for ${user.sub} (${user.plan}):\n  ${await signDevToken({ sub: user.sub, plan: user.plan })}\n`,
    );
  }
  const admin = await signDevToken({ sub: "demo-admin", roles: ["admin"] });
  console.log(`admin token (admin routes, GET /system/errors):\n  ${admin}\n`);
  console.log(`try:\n  curl ${base}/system/health/extension`);
  console.log(
    `  curl -H "Authorization: Bearer $(npm run -s token -- --sub demo-pro)" ${base}/users/limits/current\n`,
  );
}

/** dynalite in its own process, so it can be stopped alone (the health check then reports it down). */
async function startDatabase() {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "scripts/dynalite-server.ts", String(dbPort), dataDir],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const endpoint = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) =>
      reject(new Error(`dynalite exited with ${code} (is port ${dbPort} in use?)`)),
    );
    child.stdout?.on("data", (chunk: Buffer) => {
      const match = /ready (\S+)/.exec(chunk.toString());
      if (match?.[1]) resolve(match[1]);
    });
  });
  child.removeAllListeners("exit");
  child.on("exit", (code, signal) =>
    console.error(`dynalite stopped (${signal ?? code}); the API now reports it down`),
  );
  return {
    endpoint,
    process: child,
    stop: () => {
      if (child.exitCode === null) child.kill("SIGTERM");
    },
  };
}

let stopping = false;
async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  if (offline.pid && offline.exitCode === null) {
    try {
      process.kill(-offline.pid, "SIGTERM");
    } catch {}
  }
  dynamo.stop();
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
offline.on("exit", (code) => void stop(code ?? 1));
