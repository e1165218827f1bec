import { spawn } from "node:child_process";
import { OFREPApi } from "@openfeature/ofrep-core";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { type Client, OpenFeature } from "@openfeature/server-sdk";
import { afterAll, describe, expect, inject, it } from "vitest";
import { config } from "#lib/config";
import { signDevToken } from "../../scripts/tokens.ts";
import { validateEveryResponse } from "./contract.ts";

// Against the real `serverless offline` (API Gateway routing, esbuild bundles, one Lambda worker
// per function, each with its own flag cache) and the run's dynalite. The OFREP client is the
// published OpenFeature provider, not code of ours.

validateEveryResponse();
const baseUrl = inject("baseUrl");

async function userToken(plan: string): Promise<{ id: string; token: string }> {
  const id = `e2e-flags-${crypto.randomUUID()}`;
  return { id, token: await signDevToken({ sub: id, plan }) };
}

async function getFeatures(token: string, headers: Record<string, string> = {}) {
  return fetch(`${baseUrl}/users/features`, { headers: { authorization: `Bearer ${token}`, ...headers } });
}

/** An OpenFeature client bound to the OFREP provider with the user's JWT in its headers. */
async function openFeatureClient(token: string): Promise<Client> {
  const domain = `flags-e2e-${crypto.randomUUID()}`;
  await OpenFeature.setProviderAndWait(
    domain,
    new OFREPProvider({ baseUrl, headers: { Authorization: `Bearer ${token}` } }),
  );
  return OpenFeature.getClient(domain);
}

/** Runs `npm run admin -- flags ...` as an operator would, against the e2e dynalite. */
function adminCommand(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["tsx", "scripts/admin.ts", "flags", ...args], {
      env: {
        ...process.env,
        STAGE: "local",
        DYNAMODB_ENDPOINT: inject("dynamoEndpoint"),
        LOG_LEVEL: "silent",
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`admin command exited ${code}: ${err}`)),
    );
  });
}

/** Polls `read` every 100 ms until it returns `want`; resolves with the instant it did. */
async function pollUntil(read: () => Promise<unknown>, want: unknown, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await read()) === want) return Date.now();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no change to ${String(want)} within ${timeoutMs} ms`);
}

afterAll(async () => {
  await OpenFeature.close();
});

describe("OFREP through the published OpenFeature provider", () => {
  it("gets the same values as /users/features, for each plan", async () => {
    for (const plan of ["free", "pro"]) {
      const user = await userToken(plan);
      const features = (await (await getFeatures(user.token)).json()) as Record<string, unknown>;
      const client = await openFeatureClient(user.token);
      const details = {
        realtime_upgrades: await client.getBooleanDetails("realtime_upgrades", !features.realtime_upgrades),
        analytics_dashboard: await client.getBooleanDetails(
          "analytics_dashboard",
          !features.analytics_dashboard,
        ),
        offline_mode: await client.getBooleanDetails("offline_mode", !features.offline_mode),
        max_prompt_length: await client.getNumberDetails("max_prompt_length", -1),
        supported_techniques: await client.getObjectDetails("supported_techniques", []),
        ui_theme: await client.getStringDetails("ui_theme", "not-set"),
      };
      expect(Object.fromEntries(Object.entries(details).map(([k, d]) => [k, d.value]))).toEqual(features);
      for (const d of Object.values(details)) {
        expect(d.errorCode).toBeUndefined();
        expect(["STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "DISABLED"]).toContain(d.reason);
      }
      expect(details.realtime_upgrades).toMatchObject({
        reason: "STATIC",
        variant: plan === "pro" ? "on" : "off",
        flagMetadata: { source: "plan", flag_version: 0 },
      });
    }
  });

  it("reports the protocol's errors to the SDK: unknown flag, someone else's targeting key", async () => {
    const [user, other] = [await userToken("free"), await userToken("pro")];
    const client = await openFeatureClient(user.token);
    const missing = await client.getBooleanDetails("no_such_flag", true);
    expect(missing).toMatchObject({ value: true, errorCode: "FLAG_NOT_FOUND", reason: "ERROR" });
    const forged = await client.getBooleanDetails("realtime_upgrades", true, { targetingKey: other.id });
    expect(forged).toMatchObject({ value: true, errorCode: "INVALID_CONTEXT", reason: "ERROR" });
    const own = await client.getBooleanDetails("realtime_upgrades", true, { targetingKey: user.id });
    expect(own).toMatchObject({ value: false, reason: "STATIC" });
  });

  it("bulk evaluation sends an ETag and answers 304 to it; so does /users/features", async () => {
    const user = await userToken("pro");
    const api = new OFREPApi(baseUrl);
    const options = { headers: [["Authorization", `Bearer ${user.token}`]] as [string, string][] };
    const first = await api.postBulkEvaluateFlags({ context: {} }, options);
    expect(first.httpStatus).toBe(200);
    const etag = first.httpResponse?.headers.get("ETag") as string;
    expect(etag).toMatch(/^".+"$/);
    const keys = (first.value as { flags: { key: string }[] }).flags.map((f) => f.key);
    expect(keys).toEqual(
      expect.arrayContaining(["realtime_upgrades", "max_prompt_length", "supported_techniques"]),
    );
    const again = await api.postBulkEvaluateFlags(
      { context: {} },
      { headers: [...options.headers, ["If-None-Match", etag]] },
    );
    expect(again.httpStatus).toBe(304);

    const features = await getFeatures(user.token);
    const tag = features.headers.get("etag") as string;
    const notModified = await getFeatures(user.token, { "if-none-match": tag });
    expect(notModified.status).toBe(304);
    expect(await notModified.text()).toBe("");
    expect(notModified.headers.get("etag")).toBe(tag);
  });
});

describe("kill switch from the admin command", () => {
  it("is seen by the running stack within the cache bound, on both routes", async () => {
    const bound = config.FLAGS_CACHE_SECONDS * 1000;
    expect(bound).toBeLessThanOrEqual(15_000);
    const user = await userToken("pro");
    const client = await openFeatureClient(user.token);
    const viaFeatures = async () =>
      ((await (await getFeatures(user.token)).json()) as { realtime_upgrades: boolean }).realtime_upgrades;
    const viaOfrep = async () => (await client.getBooleanDetails("realtime_upgrades", true)).value;
    // Warm both Lambdas' caches with the flag on.
    expect(await viaFeatures()).toBe(true);
    expect(await viaOfrep()).toBe(true);

    const killed = JSON.parse(await adminCommand("kill", "realtime_upgrades", "--reason", "e2e kill switch"));
    expect(killed).toMatchObject({ key: "realtime_upgrades", definition: { killed: true } });
    // updated_at is taken before the write, so time measured from it is never shorter than the truth.
    const writtenAt = Date.parse(killed.updated_at);
    const slack = 1_500; // one poll interval plus request latency on a shared machine
    const [offAtFeatures, offAtOfrep] = await Promise.all([
      pollUntil(viaFeatures, false, bound + 10_000),
      pollUntil(viaOfrep, false, bound + 10_000),
    ]);
    expect(offAtFeatures - writtenAt).toBeLessThanOrEqual(bound + slack);
    expect(offAtOfrep - writtenAt).toBeLessThanOrEqual(bound + slack);
    expect(await client.getBooleanDetails("realtime_upgrades", true)).toMatchObject({
      value: false,
      reason: "DISABLED",
    });

    const restored = JSON.parse(await adminCommand("unkill", "realtime_upgrades"));
    const onAt = await pollUntil(viaFeatures, true, bound + 10_000);
    expect(onAt - Date.parse(restored.updated_at)).toBeLessThanOrEqual(bound + slack);
    console.info(
      `kill switch seen after ${offAtFeatures - writtenAt} ms (/users/features), ${offAtOfrep - writtenAt} ms (OFREP); ` +
        `unkill after ${onAt - Date.parse(restored.updated_at)} ms; bound ${bound} ms`,
    );
  });
});
