import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FlagDefinition, type FlagValue, type VersionedFlag } from "#lib/flags/definitions";
import { etagOf, ifNoneMatchHits } from "#lib/flags/etag";
import { compileFlag, evaluateFlag, evaluatePlanConfig, type Subject } from "#lib/flags/evaluate";
import { BUCKETS, bucketOf, inRollout } from "#lib/flags/hash";
import { PLANS } from "#lib/plans";

const flag = (key: string, fields: Record<string, unknown>, version = 3): VersionedFlag => ({
  key,
  version,
  definition: FlagDefinition.parse(fields),
  source: "stored",
});
const evaluate = (f: VersionedFlag, subject: Subject) => evaluateFlag(compileFlag(f), subject);
const users = (n: number) => Array.from({ length: n }, (_, i) => `synthetic-user-${i}`);

describe("evaluation order: default → plan → rules → rollout → override → kill", () => {
  // One definition with every layer; each case removes the step that won and sees the next one.
  const everything = {
    type: "boolean",
    default: true,
    rules: [{ id: "free-users", plans: ["free"], value: true }],
    rollout: { percentage: 100, value: false },
    overrides: { "user-1": true },
    killed: true,
    kill_reason: "engine overload",
  };
  const free: Subject = { userId: "user-1", plan: "free" };

  it("1. the flag's default, for a flag without plan values → DEFAULT", () => {
    const result = evaluate(flag("beta_banner", { type: "boolean", default: true }), free);
    expect(result).toEqual({
      key: "beta_banner",
      value: true,
      reason: "DEFAULT",
      variant: "on",
      step: "default",
      version: 3,
      ruleId: undefined,
    });
  });

  it("2. the plan's value replaces the default → STATIC", () => {
    const f = flag("realtime_upgrades", { type: "boolean", default: true });
    expect(evaluate(f, free)).toMatchObject({ value: false, reason: "STATIC", step: "plan", variant: "off" });
    expect(evaluate(f, { userId: "u", plan: "pro" })).toMatchObject({ value: true, reason: "STATIC" });
    expect(PLANS.free.features.realtime_upgrades).toBe(false);
  });

  it("3. a matching targeting rule replaces the plan's value → TARGETING_MATCH", () => {
    const { rollout, overrides, killed, ...rest } = everything;
    const f = flag("realtime_upgrades", rest);
    expect(evaluate(f, free)).toMatchObject({
      value: true,
      reason: "TARGETING_MATCH",
      step: "rule",
      ruleId: "free-users",
    });
    expect(evaluate(f, { userId: "user-1", plan: "pro" })).toMatchObject({ value: true, reason: "STATIC" });
  });

  it("4. a rollout the user is in replaces the rule → SPLIT", () => {
    const { overrides, killed, ...rest } = everything;
    expect(evaluate(flag("realtime_upgrades", rest), free)).toMatchObject({
      value: false,
      reason: "SPLIT",
      step: "rollout",
    });
  });

  it("5. a per-user override replaces the rollout → TARGETING_MATCH", () => {
    const { killed, ...rest } = everything;
    const f = flag("realtime_upgrades", rest);
    expect(evaluate(f, free)).toMatchObject({ value: true, reason: "TARGETING_MATCH", step: "override" });
    // Someone without an override is still in the rollout.
    expect(evaluate(f, { userId: "user-2", plan: "free" })).toMatchObject({ value: false, reason: "SPLIT" });
  });

  it("6. the kill switch wins over everything → DISABLED", () => {
    const f = flag("realtime_upgrades", everything);
    for (const subject of [free, { userId: "user-2", plan: "team" as const }]) {
      expect(evaluate(f, subject)).toMatchObject({
        value: false,
        reason: "DISABLED",
        step: "kill",
        variant: "off",
      });
    }
  });

  it("serves a killed non-boolean flag's default", () => {
    const f = flag("ui_theme", { type: "string", default: "system", overrides: { u: "dark" }, killed: true });
    expect(evaluate(f, { userId: "u", plan: "pro" })).toMatchObject({ value: "system", reason: "DISABLED" });
  });

  it("takes plan configuration from lib/plans.ts only", () => {
    expect(evaluatePlanConfig("max_prompt_length", "pro")).toEqual({
      key: "max_prompt_length",
      value: PLANS.pro.max_prompt_length,
      reason: "STATIC",
      variant: "pro",
      step: "plan",
    });
    expect(evaluatePlanConfig("supported_techniques", "free").value).toEqual(PLANS.free.techniques);
  });
});

describe("targeting rules", () => {
  const versioned = flag("new_editor", {
    type: "boolean",
    default: false,
    rules: [{ id: "v12", extension_version: { min: "1.2", max: "2.0" }, value: true }],
  });

  it("matches an extension version in [min, max), compared as numbers", () => {
    const at = (extensionVersion?: string) =>
      evaluate(versioned, { userId: "u", plan: "free", extensionVersion }).value;
    expect(at("1.1.9")).toBe(false);
    expect(at("1.2")).toBe(true);
    expect(at("1.2.0.0")).toBe(true);
    expect(at("1.10.3")).toBe(true);
    expect(at("1.99999")).toBe(true);
    expect(at("2.0.0")).toBe(false);
    expect(at(undefined)).toBe(false);
  });

  it("needs every condition of a rule and takes the first rule that matches", () => {
    const f = flag("ui_theme", {
      type: "string",
      default: "system",
      rules: [
        { id: "pro-testers", plans: ["pro"], user_ids: ["ann", "bob"], value: "dark" },
        { id: "ann", user_ids: ["ann"], value: "light" },
      ],
    });
    expect(evaluate(f, { userId: "ann", plan: "pro" })).toMatchObject({
      value: "dark",
      ruleId: "pro-testers",
    });
    expect(evaluate(f, { userId: "ann", plan: "free" })).toMatchObject({ value: "light", ruleId: "ann" });
    expect(evaluate(f, { userId: "carol", plan: "pro" })).toMatchObject({
      value: "system",
      reason: "DEFAULT",
    });
  });
});

describe("percentage rollout by stable hash", () => {
  const rolledOut = (percentage: number, ids: string[]) =>
    new Set(ids.filter((id) => inRollout("realtime_upgrades", id, percentage)));

  it("keeps every user of a 10 % rollout when it grows to 30 %", () => {
    const ids = users(10_000);
    const at10 = rolledOut(10, ids);
    const at30 = rolledOut(30, ids);
    for (const id of at10) expect(at30.has(id)).toBe(true);
    expect(at30.size).toBeGreaterThan(at10.size);
  });

  it("gives 25 % ± 1.5 % of 10,000 synthetic users", () => {
    const share = rolledOut(25, users(10_000)).size / 10_000;
    expect(share).toBeGreaterThanOrEqual(0.235);
    expect(share).toBeLessThanOrEqual(0.265);
  });

  it("only ever adds users as the percentage rises, and 0 % / 100 % mean none / all", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        (id, a, b) => {
          const [low, high] = a <= b ? [a / 100, b / 100] : [b / 100, a / 100];
          if (inRollout("f", id, low)) expect(inRollout("f", id, high)).toBe(true);
          expect(inRollout("f", id, 0)).toBe(false);
          expect(inRollout("f", id, 100)).toBe(true);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it("gives the same user the same bucket every time, and different flags independent buckets", () => {
    expect(bucketOf("realtime_upgrades", "user-42")).toBe(bucketOf("realtime_upgrades", "user-42"));
    const ids = users(2_000);
    const both = ids.filter((id) => inRollout("flag_a", id, 50) && inRollout("flag_b", id, 50)).length;
    expect(both / ids.length).toBeGreaterThan(0.2);
    expect(both / ids.length).toBeLessThan(0.3);
    for (const id of ids.slice(0, 100)) expect(bucketOf("x", id)).toBeLessThan(BUCKETS);
  });

  it("serves the rollout through evaluation with reason SPLIT", () => {
    const f = flag("beta_banner", {
      type: "boolean",
      default: false,
      rollout: { percentage: 25, value: true },
    });
    const results = users(4_000).map((id) => evaluate(f, { userId: id, plan: "free" }));
    const split = results.filter((r) => r.reason === "SPLIT");
    expect(split.every((r) => r.value === true)).toBe(true);
    expect(results.filter((r) => r.reason === "DEFAULT").every((r) => r.value === false)).toBe(true);
    expect(split.length / results.length).toBeCloseTo(0.25, 1);
  });
});

describe("definitions are validated", () => {
  const problems = (fields: Record<string, unknown>) =>
    FlagDefinition.safeParse(fields).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];

  it("refuses values of the wrong type, duplicate rule ids, rules without conditions", () => {
    expect(
      problems({
        type: "boolean",
        default: "yes",
        rules: [
          { id: "a", plans: ["pro"], value: 1 },
          { id: "a", user_ids: ["u"], value: true },
        ],
        rollout: { percentage: 10, value: "x" },
        overrides: { u: "on" },
      }),
    ).toEqual([
      "default: must be a boolean",
      "rules.0.value: must be a boolean",
      "rollout.value: must be a boolean",
      "overrides.u: must be a boolean",
      "rules: rule ids must be unique",
    ]);
    expect(problems({ type: "boolean", default: true, rules: [{ id: "r", value: true }] })).toEqual([
      "rules.0: a rule needs at least one condition (plans, extension_version or user_ids)",
    ]);
    expect(
      problems({ type: "boolean", default: true, rollout: { percentage: 101, value: true } }),
    ).toHaveLength(1);
    expect(problems({ type: "number", default: 3, extra: 1 })).toHaveLength(1);
  });

  it("accepts a complete definition and fills the empty layers", () => {
    const value: FlagValue = 3;
    expect(FlagDefinition.parse({ type: "number", default: value })).toEqual({
      type: "number",
      description: "",
      default: 3,
      rules: [],
      rollout: null,
      overrides: {},
      killed: false,
      kill_reason: null,
    });
  });
});

describe("ETags", () => {
  it("change with the body and match If-None-Match lists, weak tags and *", () => {
    const tag = etagOf({ a: 1 });
    expect(tag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(etagOf({ a: 1 })).toBe(tag);
    expect(etagOf({ a: 2 })).not.toBe(tag);
    expect(ifNoneMatchHits(tag, tag)).toBe(true);
    expect(ifNoneMatchHits(`"other", W/${tag}`, tag)).toBe(true);
    expect(ifNoneMatchHits("*", tag)).toBe(true);
    expect(ifNoneMatchHits('"other"', tag)).toBe(false);
    expect(ifNoneMatchHits(undefined, tag)).toBe(false);
  });
});
