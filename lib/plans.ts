import { z } from "zod";

/**
 * Plans, their limits and the configuration that depends on them, in one place: quotas, usage
 * validation and feature flags all read this module, so limits and config never disagree.
 */

/** The prompt-upgrade techniques the engines run. */
export const TECHNIQUES = [
  "chain_of_thought",
  "step_back",
  "few_shot",
  "role_prompting",
  "self_critique",
  "tree_of_thoughts",
] as const;
export const Technique = z.enum(TECHNIQUES);
export type Technique = z.infer<typeof Technique>;

export const ENGINES = ["demon", "brain"] as const;
export type Engine = (typeof ENGINES)[number];

export const PLAN_NAMES = ["free", "pro", "team"] as const;
export const PlanName = z.enum(PLAN_NAMES);
export type PlanName = z.infer<typeof PlanName>;

export interface Plan {
  name: PlanName;
  /** Position in the upgrade path: a higher rank allows at least as much. */
  rank: number;
  daily_limit: number;
  monthly_limit: number;
  max_prompt_length: number;
  techniques: readonly Technique[];
  /** Plan values of the boolean feature flags (the flag module's second evaluation step). */
  features: {
    realtime_upgrades: boolean;
    analytics_dashboard: boolean;
    offline_mode: boolean;
  };
}

export const PLANS: Readonly<Record<PlanName, Plan>> = {
  free: {
    name: "free",
    rank: 0,
    daily_limit: 20,
    monthly_limit: 300,
    max_prompt_length: 2_000,
    techniques: ["chain_of_thought", "step_back"],
    features: { realtime_upgrades: false, analytics_dashboard: true, offline_mode: true },
  },
  pro: {
    name: "pro",
    rank: 1,
    daily_limit: 500,
    monthly_limit: 15_000,
    max_prompt_length: 8_000,
    techniques: TECHNIQUES,
    features: { realtime_upgrades: true, analytics_dashboard: true, offline_mode: true },
  },
  team: {
    name: "team",
    rank: 2,
    daily_limit: 2_000,
    monthly_limit: 60_000,
    max_prompt_length: 16_000,
    techniques: TECHNIQUES,
    features: { realtime_upgrades: true, analytics_dashboard: true, offline_mode: true },
  },
};

/** The plan of a name, or `free` for a name we do not know (an old or foreign claim). */
export function planOf(name: string | undefined): Plan {
  return name !== undefined && name in PLANS ? PLANS[name as PlanName] : PLANS.free;
}

/** Plans above the given one, cheapest first. */
export function higherPlans(plan: Plan): Plan[] {
  return Object.values(PLANS)
    .filter((p) => p.rank > plan.rank)
    .sort((a, b) => a.rank - b.rank);
}

/** Server-side prices: what each action costs in credits. Clients name the action, never the price. */
export const ACTION_PRICES = {
  upgrade: 1,
  deep_upgrade: 5,
  rewrite: 2,
} as const;
export const ACTIONS = Object.keys(ACTION_PRICES) as (keyof typeof ACTION_PRICES)[];
export const Action = z.enum(ACTIONS as [keyof typeof ACTION_PRICES, ...(keyof typeof ACTION_PRICES)[]]);
export type Action = z.infer<typeof Action>;
