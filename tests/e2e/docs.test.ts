import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

// The reference page in a real browser: Debian's chromium (installed by .ci/run), headless,
// against serverless offline. The flags keep Chromium from reaching for the network it lacks.

const base = inject("baseUrl");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const spec = JSON.parse(readFileSync(new URL("../../openapi.json", import.meta.url), "utf8")) as {
  paths: Record<string, Record<string, { operationId: string; summary: string }>>;
};
const operations = Object.values(spec.paths).flatMap((item) => Object.values(item));

let profile: string;
let context: BrowserContext;

beforeAll(async () => {
  profile = mkdtempSync(join(tmpdir(), "docs-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    timeout: 60_000,
  });
}, 90_000);

afterAll(async () => {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
});

describe("e2e: the API reference page in headless Chromium", () => {
  it("loads /docs, renders every operation of openapi.json, with no console error and nothing off-site", async () => {
    const page = await context.newPage();
    const problems: string[] = [];
    const offSite: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()}`));
    page.on("request", (request) => {
      const url = request.url();
      if (!url.startsWith(base) && !url.startsWith("data:") && !url.startsWith("blob:")) offSite.push(url);
    });

    const response = await page.goto(`${base}/docs`, { waitUntil: "load", timeout: 60_000 });
    expect(response?.status()).toBe(200);
    expect(await page.title()).toMatch(/API reference/);

    // Redoc renders one section per operation, with an id ending in /operation/<operationId>.
    const last = operations.at(-1)?.operationId;
    await page.waitForSelector(`[data-section-id$="/operation/${last}"]`, { timeout: 60_000 });
    const rendered = await page.$$eval('[data-section-id*="/operation/"]', (nodes) =>
      nodes.map((n) => n.getAttribute("data-section-id")?.split("/operation/")[1]),
    );
    const listed = await page.$$eval('[data-item-id*="/operation/"]', (nodes) =>
      nodes.map((n) => n.getAttribute("data-item-id")?.split("/operation/")[1]),
    );
    const ids = operations.map((o) => o.operationId).sort();
    expect(operations.length).toBeGreaterThan(20);
    expect([...new Set(rendered)].sort()).toEqual(ids);
    expect([...new Set(listed)].sort()).toEqual(ids);

    // The summaries are on the page too (what a reader scans for).
    const text = await page.textContent("body");
    for (const operation of operations) expect(text).toContain(operation.summary);

    // DOCS_SCREENSHOT=/tmp/docs.png keeps a picture of the rendered page, for a look by eye.
    if (process.env.DOCS_SCREENSHOT) await page.screenshot({ path: process.env.DOCS_SCREENSHOT });
    expect(problems).toEqual([]);
    expect(offSite).toEqual([]);
    await page.close();
  });
});
