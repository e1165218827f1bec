import { describe, expect, inject, it } from "vitest";
import { signDevToken } from "../../scripts/tokens.ts";
import { sampleReport } from "../error-reports-fixtures.ts";
import { validateEveryResponse } from "./contract.ts";

// Against the real `serverless offline` (API Gateway routing, esbuild bundles) and the run's dynalite.

validateEveryResponse();
const base = inject("baseUrl");

async function token(roles?: string[]): Promise<string> {
  return signDevToken({ sub: `e2e-errors-${crypto.randomUUID()}`, roles });
}

function post(bearer: string, body: string) {
  return fetch(`${base}/system/errors/report`, {
    method: "POST",
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
    body,
  });
}

describe("e2e: error reports over real HTTP (serverless offline)", () => {
  it("takes a report (202), treats its resend as a no-op, and lists it for admins only", async () => {
    const user = await token();
    const report = sampleReport({ message: "TypeError: upgrade failed for jane@example.com" });
    const first = await post(user, JSON.stringify(report));
    expect(first.status).toBe(202);
    const stored = (await first.json()) as { id: string; group_id: string; status: string };
    expect(stored).toEqual({
      id: report.id,
      group_id: expect.stringMatching(/^[0-9a-f]{24}$/),
      status: "stored",
      fingerprint: "computed",
    });

    const resend = await post(user, JSON.stringify(report));
    expect(resend.status).toBe(202);
    expect(await resend.json()).toEqual({ ...stored, status: "duplicate" });

    const admin = await token(["admin"]);
    const list = await fetch(`${base}/system/errors?days=1&limit=100&samples=1`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(list.status).toBe(200);
    // biome-ignore lint/suspicious/noExplicitAny: the listing JSON
    const page = (await list.json()) as any;
    const group = page.groups.find((g: { group_id: string }) => g.group_id === stored.group_id);
    expect(group).toMatchObject({
      count_in_period: 1,
      count_total: 1,
      title: "TypeError: upgrade failed for [email]",
      latest_sample: { report_id: report.id, url: "https://chat.openai.com" },
    });
    expect(group.samples).toHaveLength(1);
    expect(JSON.stringify(page)).not.toContain("jane@example.com");

    const forbidden = await fetch(`${base}/system/errors`, { headers: { authorization: `Bearer ${user}` } });
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ code: "FORBIDDEN" });
  });

  it("refuses a body over 64 KB with 413 and an unknown field with 422", async () => {
    const user = await token();
    const big = await post(user, JSON.stringify(sampleReport({ stack: "z".repeat(70_000) })));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ code: "PAYLOAD_TOO_LARGE", max_bytes: 65_536 });

    const unknown = await post(user, JSON.stringify(sampleReport({ prompt: "private" })));
    expect(unknown.status).toBe(422);
    expect(await unknown.json()).toMatchObject({ code: "VALIDATION_FAILED" });
  });

  it("needs a token", async () => {
    const res = await post("", JSON.stringify(sampleReport()));
    expect(res.status).toBe(401);
  });
});
