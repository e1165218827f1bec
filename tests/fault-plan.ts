/**
 * Shared by tests/faults.test.ts and bench/faults.bench.ts: where injected DynamoDB faults fall, and
 * the sync both replay through them.
 */

/** `before`: the request never reaches the database; `after`: it was applied and the answer lost. */
export type Fault = "before" | "after";

/** A seeded plan (xorshift): each request fails, half before and half after, with probability `rate`. */
export function faultPlan(seed: number, rate: number): () => Fault | undefined {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const r = (state >>> 0) / 2 ** 32;
    if (r < rate / 2) return "before";
    if (r < rate) return "after";
    return undefined;
  };
}

/** A 40-event sync spread over the last 4 days, three domains and two techniques. */
export function faultSyncEvents(idPrefix: string, now = Date.now()) {
  return Array.from({ length: 40 }, (_, i) => ({
    id: `${idPrefix}-${i}`,
    type: "upgrade",
    timestamp: new Date(now - (i % 4) * 86_400_000 - i * 1000).toISOString(),
    domain: ["chatgpt.com", "claude.ai", "gemini.google.com"][i % 3],
    technique: i % 2 ? "chain_of_thought" : "step_back",
    success: i % 5 !== 0,
    improvement_score: (i % 10) + 0.5,
    credits: 1,
  }));
}
