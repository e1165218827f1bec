import { afterEach, describe, expect, it, vi } from "vitest";
import type { AuthUser } from "#lib/auth";
import { consumeCredits, currentLimits } from "#lib/quotas";
import { commands } from "../scripts/admin/quota.ts";

/** Runs an admin command and returns what it printed, parsed. */
async function admin(name: string, args: string[]) {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
  try {
    await commands[name]?.run(args);
  } finally {
    spy.mockRestore();
  }
  return JSON.parse(lines.join("\n"));
}

describe("npm run admin -- quota ...", () => {
  afterEach(() => vi.restoreAllMocks());

  it("set-plan changes the limits at once; reset-quota gives fresh credits; show lists both", async () => {
    const user: AuthUser = { id: `test-${crypto.randomUUID()}`, roles: [] };
    const now = new Date();
    await consumeCredits(user, "deep_upgrade", "a1", now);
    expect((await currentLimits(user, now)).daily_limit).toBe(20);

    const set = await admin("set-plan", ["--sub", user.id, "--plan", "pro", "--monthly", "1000"]);
    expect(set.profile).toMatchObject({ plan: "pro", overrides: { monthly_limit: 1000 } });
    expect(set.limits).toMatchObject({ plan: "pro", daily_limit: 500, monthly_limit: 1000, daily_used: 5 });

    const reset = await admin("reset-quota", ["--sub", user.id]);
    expect(reset).toMatchObject({ daily_used: 0, monthly_used: 0, daily_remaining: 500 });

    const shown = await admin("show", ["--sub", user.id]);
    expect(shown).toMatchObject({
      profile: { plan: "pro" },
      limits: { monthly_limit: 1000 },
      statements: [],
    });

    const cleared = await admin("set-plan", ["--sub", user.id, "--plan", "team", "--clear-overrides"]);
    expect(cleared.limits).toMatchObject({ plan: "team", daily_limit: 2000, monthly_limit: 60000 });
  });

  it("refuses bad arguments with a sentence", async () => {
    await expect(admin("set-plan", ["--sub", "x", "--plan", "gold"])).rejects.toThrow(
      /--plan must be one of/,
    );
    await expect(admin("reset-quota", [])).rejects.toThrow(/--sub/);
    await expect(admin("set-timezone", ["--sub", "x", "--tz", "Mars/Base"])).rejects.toThrow(
      /unknown timezone/,
    );
  });
});
