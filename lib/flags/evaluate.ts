import {
  type FlagValue,
  isPlanFeature,
  killedValue,
  type PlanConfigKey,
  type VersionedFlag,
} from "#lib/flags/definitions";
import { inRollout } from "#lib/flags/hash";
import { PLANS, type PlanName } from "#lib/plans";

/** Whom a flag is evaluated for. The user id is always the token's `sub`. */
export interface Subject {
  userId: string;
  plan: PlanName;
  /** The calling extension's version, when it said (header or OFREP context). */
  extensionVersion?: string;
}

/** OpenFeature resolution reasons, one per evaluation step (see `evaluateFlag`). */
export type Reason = "DEFAULT" | "STATIC" | "TARGETING_MATCH" | "SPLIT" | "DISABLED";
/** The step that decided a value. */
export type Step = "default" | "plan" | "rule" | "rollout" | "override" | "kill";

export interface Evaluation {
  key: string;
  value: FlagValue | readonly string[];
  reason: Reason;
  variant: string;
  step: Step;
  /** Version of the flag definition that decided (0 = built-in); absent for plan config. */
  version?: number;
  ruleId?: string;
}

interface CompiledRule {
  id: string;
  plans?: ReadonlySet<string>;
  min?: number[];
  max?: number[];
  userIds?: ReadonlySet<string>;
  value: FlagValue;
}

/** A flag prepared for fast evaluation: sets for id lists, parsed version bounds. */
export interface CompiledFlag {
  flag: VersionedFlag;
  rules: CompiledRule[];
  overrides: ReadonlyMap<string, FlagValue>;
}

/** Parses `1.4.2` into `[1, 4, 2, 0]` (always four parts, so comparisons line up). */
export function parseVersion(version: string): number[] {
  const parts = version.split(".").map(Number);
  while (parts.length < 4) parts.push(0);
  return parts;
}

/** Compares two parsed versions: negative, zero or positive. */
export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 4; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Prepares a flag for evaluation; done once per cache load, not per request. */
export function compileFlag(flag: VersionedFlag): CompiledFlag {
  const d = flag.definition;
  return {
    flag,
    rules: d.rules.map((r) => ({
      id: r.id,
      plans: r.plans ? new Set(r.plans) : undefined,
      min: r.extension_version?.min ? parseVersion(r.extension_version.min) : undefined,
      max: r.extension_version?.max ? parseVersion(r.extension_version.max) : undefined,
      userIds: r.user_ids ? new Set(r.user_ids) : undefined,
      value: r.value,
    })),
    overrides: new Map(Object.entries(d.overrides)),
  };
}

function ruleMatches(rule: CompiledRule, subject: Subject, version: number[] | undefined): boolean {
  if (rule.plans && !rule.plans.has(subject.plan)) return false;
  if (rule.userIds && !rule.userIds.has(subject.userId)) return false;
  if (rule.min || rule.max) {
    // A version condition never matches a caller that did not say its version.
    if (!version) return false;
    if (rule.min && compareVersions(version, rule.min) < 0) return false;
    if (rule.max && compareVersions(version, rule.max) >= 0) return false;
  }
  return true;
}

/** The OpenFeature variant of a value: `on`/`off` for booleans, the value itself otherwise. */
export function variantOf(value: FlagValue): string {
  return typeof value === "boolean" ? (value ? "on" : "off") : String(value);
}

/**
 * Evaluates one flag for one subject. The steps run in this order and each later step that
 * applies replaces the value (and reason) of the earlier ones:
 *
 * 1. the flag's default → `DEFAULT`
 * 2. the plan's value, for the plan features (`PLANS[plan].features`) → `STATIC`
 * 3. targeting rules, first match (plan, extension version in [min, max), user id) → `TARGETING_MATCH`
 * 4. percentage rollout, when the user's stable bucket is inside it → `SPLIT`
 * 5. a per-user override (support fixing one user) → `TARGETING_MATCH`
 * 6. the kill switch: off for everyone, wins over all → `DISABLED`
 */
export function evaluateFlag(compiled: CompiledFlag, subject: Subject): Evaluation {
  const { flag } = compiled;
  const d = flag.definition;
  const result = (value: FlagValue, reason: Reason, step: Step, ruleId?: string): Evaluation => ({
    key: flag.key,
    value,
    reason,
    variant: variantOf(value),
    step,
    version: flag.version,
    ruleId,
  });
  if (d.killed) return result(killedValue(d), "DISABLED", "kill");
  const override = compiled.overrides.get(subject.userId);
  if (override !== undefined) return result(override, "TARGETING_MATCH", "override");
  if (d.rollout && inRollout(flag.key, subject.userId, d.rollout.percentage)) {
    return result(d.rollout.value, "SPLIT", "rollout");
  }
  const version = subject.extensionVersion ? parseVersion(subject.extensionVersion) : undefined;
  const rule = compiled.rules.find((r) => ruleMatches(r, subject, version));
  if (rule) return result(rule.value, "TARGETING_MATCH", "rule", rule.id);
  if (isPlanFeature(flag.key)) return result(PLANS[subject.plan].features[flag.key], "STATIC", "plan");
  return result(d.default, "DEFAULT", "default");
}

/**
 * A configuration value of the plan (not a flag: it has no rules, rollout or kill switch), with
 * reason `STATIC`. `max_prompt_length` and `supported_techniques` come from lib/plans.ts only.
 */
export function evaluatePlanConfig(key: PlanConfigKey, plan: PlanName): Evaluation {
  const value = key === "max_prompt_length" ? PLANS[plan].max_prompt_length : PLANS[plan].techniques;
  return { key, value, reason: "STATIC", variant: plan, step: "plan" };
}
