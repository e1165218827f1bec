import { z } from "zod";
import { AppError } from "#lib/errors";
import { type Plan, PlanName } from "#lib/plans";

/**
 * What a feature flag is: its type, its built-in default, and the operator's layers on top
 * (targeting rules, a percentage rollout, per-user overrides, a kill switch). The built-in
 * definitions below are version 0 of each flag, so a fresh table answers without any item.
 */

/** Flag keys are snake_case, like the fields of GET /users/features. */
export const FlagKey = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,63}$/, "must be snake_case: a lower-case letter, then letters, digits or _");

export const FLAG_TYPES = ["boolean", "string", "number"] as const;
export const FlagType = z.enum(FLAG_TYPES);
export type FlagType = z.infer<typeof FlagType>;

export const FlagValue = z.union([z.boolean(), z.string().max(200), z.number().finite()]);
export type FlagValue = z.infer<typeof FlagValue>;

/** An extension version as Chrome writes it in the manifest: 1 to 4 dot-separated integers. */
export const ExtensionVersion = z
  .string()
  .regex(/^\d{1,5}(\.\d{1,5}){0,3}$/, "must be 1 to 4 dot-separated integers, e.g. 1.4.2");

/**
 * A targeting rule: every condition it names must hold (plan in the list, extension version in
 * [min, max), user id in the list). Rules are tried in order; the first match serves its value.
 */
export const TargetingRule = z
  .object({
    id: z.string().regex(/^[a-z0-9_-]{1,32}$/, "must be 1 to 32 of a-z, 0-9, _ or -"),
    plans: z.array(PlanName).min(1).max(3).optional(),
    extension_version: z
      .object({ min: ExtensionVersion.optional(), max: ExtensionVersion.optional() })
      .strict()
      .refine((r) => r.min !== undefined || r.max !== undefined, "needs min, max or both")
      .optional(),
    user_ids: z.array(z.string().min(1).max(256)).min(1).max(500).optional(),
    value: FlagValue,
  })
  .strict()
  .refine((r) => r.plans || r.extension_version || r.user_ids, {
    message: "a rule needs at least one condition (plans, extension_version or user_ids)",
  });
export type TargetingRule = z.infer<typeof TargetingRule>;

/**
 * A percentage rollout: users whose stable bucket (hash of flag key and user id) is below
 * `percentage` get `value`. Percentages have two decimals (10,000 buckets).
 */
export const Rollout = z.object({ percentage: z.number().min(0).max(100), value: FlagValue }).strict();
export type Rollout = z.infer<typeof Rollout>;

/** Most per-user overrides one flag may hold (they live in the definition item, under 400 KB). */
export const MAX_OVERRIDES = 500;

const DefinitionFields = z
  .object({
    type: FlagType,
    description: z.string().max(500).default(""),
    default: FlagValue,
    rules: z.array(TargetingRule).max(50).default([]),
    rollout: Rollout.nullable().default(null),
    overrides: z.record(z.string().min(1).max(256), FlagValue).default({}),
    killed: z.boolean().default(false),
    kill_reason: z.string().max(500).nullable().default(null),
  })
  .strict();

/** A flag definition as stored: every value has the flag's type, rule ids are unique. */
export const FlagDefinition = DefinitionFields.superRefine((d, ctx) => {
  const check = (value: FlagValue, path: (string | number)[]) => {
    if (typeof value !== d.type) ctx.addIssue({ code: "custom", path, message: `must be a ${d.type}` });
  };
  check(d.default, ["default"]);
  for (const [i, r] of d.rules.entries()) check(r.value, ["rules", i, "value"]);
  if (d.rollout) check(d.rollout.value, ["rollout", "value"]);
  for (const [user, value] of Object.entries(d.overrides)) check(value, ["overrides", user]);
  const ids = d.rules.map((r) => r.id);
  if (new Set(ids).size !== ids.length) {
    ctx.addIssue({ code: "custom", path: ["rules"], message: "rule ids must be unique" });
  }
  if (Object.keys(d.overrides).length > MAX_OVERRIDES) {
    ctx.addIssue({ code: "custom", path: ["overrides"], message: `at most ${MAX_OVERRIDES} overrides` });
  }
});
export type FlagDefinition = z.infer<typeof FlagDefinition>;

/** A definition with where it came from and its version (0 = the built-in one, never stored). */
export interface VersionedFlag {
  key: string;
  version: number;
  definition: FlagDefinition;
  source: "built-in" | "stored";
  updated_at?: string;
  updated_by?: string;
}

/** The boolean flags whose second evaluation step is the plan's value (`PLANS[plan].features`). */
export const PLAN_FEATURE_KEYS = ["realtime_upgrades", "analytics_dashboard", "offline_mode"] as const;
export type PlanFeatureKey = (typeof PLAN_FEATURE_KEYS)[number] & keyof Plan["features"];

/** True for a flag whose plan step reads `PLANS[plan].features[key]`. */
export function isPlanFeature(key: string): key is PlanFeatureKey {
  return (PLAN_FEATURE_KEYS as readonly string[]).includes(key);
}

/**
 * Configuration that comes from the plan and is not a flag: operators change it in lib/plans.ts,
 * never per flag, so the limit the quota code enforces and the one the extension shows agree.
 */
export const PLAN_CONFIG_KEYS = ["max_prompt_length", "supported_techniques"] as const;
export type PlanConfigKey = (typeof PLAN_CONFIG_KEYS)[number];

export function isPlanConfig(key: string): key is PlanConfigKey {
  return (PLAN_CONFIG_KEYS as readonly string[]).includes(key);
}

const builtIn = (type: FlagType, value: FlagValue, description: string): FlagDefinition =>
  FlagDefinition.parse({ type, default: value, description });

/**
 * Version 0 of every flag the extension knows. The default of a plan feature is what a user
 * gets only if a plan had no value; it is `false` so an unknown plan never unlocks a feature.
 */
export const BUILT_IN_FLAGS: Readonly<Record<string, FlagDefinition>> = {
  realtime_upgrades: builtIn("boolean", false, "Upgrade the prompt while the user types"),
  analytics_dashboard: builtIn("boolean", false, "Show the usage analytics dashboard"),
  offline_mode: builtIn("boolean", false, "Queue upgrades while offline and send them later"),
  ui_theme: builtIn("string", "system", "Theme of the extension UI: system, light or dark"),
};

/** The built-in flag of a key as version 0, or undefined for a key that is not built in. */
export function builtInFlag(key: string): VersionedFlag | undefined {
  const definition = BUILT_IN_FLAGS[key];
  return definition ? { key, version: 0, definition, source: "built-in" } : undefined;
}

/** The value a kill switch serves: `false` for a boolean flag, the flag's default otherwise. */
export function killedValue(definition: FlagDefinition): FlagValue {
  return definition.type === "boolean" ? false : definition.default;
}

/**
 * Parses a value typed on a command line for a flag of a type: `true|false|on|off` for booleans,
 * a finite number for numbers, the text itself for strings.
 */
export function parseFlagValue(type: FlagType, raw: string): FlagValue {
  if (type === "boolean") {
    if (["true", "on", "1"].includes(raw)) return true;
    if (["false", "off", "0"].includes(raw)) return false;
  } else if (type === "number") {
    const n = Number(raw);
    if (raw.trim() !== "" && Number.isFinite(n)) return n;
  } else {
    return raw;
  }
  throw new AppError("VALIDATION_FAILED", `"${raw}" is not a ${type} value`);
}
