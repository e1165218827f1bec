import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dynamo } from "#lib/db/client";
import { FUZZ_ROUTES } from "./fuzz/cases.ts";
import { caseFor, countAcceptedWrites, runCase, tokenFor } from "./fuzz/harness.ts";
import { eventFrom, invoke } from "./helpers.ts";

const writes = countAcceptedWrites(dynamo);
const runId = crypto.randomUUID().slice(0, 8);

/** Bounded: a fixed seed and a small count per route, so `npm test` stays quick and repeatable. */
describe("fuzz: random and adversarial requests on every route", () => {
  it.each(FUZZ_ROUTES)(
    "$name: never 5xx, every error has detail and code, refusals write nothing",
    async (route) => {
      const handler = await route.load();
      const token = await tokenFor(route, runId);
      // First use creates the profile; from here on a refused request must write nothing.
      await invoke(handler, eventFrom(route.event, { token }));
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(caseFor(route), async (c) => {
          const outcome = await runCase(route, handler, c, token, writes);
          statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
          expect(outcome.problem).toBeUndefined();
        }),
        { seed: 20261203, numRuns: 60, endOnFailure: true },
      );
      // The generator must reach both sides: refusals, and (from the mutated samples) acceptances.
      if (route.refuses !== false) expect([...statuses.keys()].some((s) => s >= 400)).toBe(true);
      if (route.accepts !== false) expect([...statuses.keys()].some((s) => s < 400)).toBe(true);
    },
  );
});
