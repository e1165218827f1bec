import { randomBytes } from "node:crypto";
import { loadEvent } from "./helpers.ts";

/**
 * A random lower-case word. Messages are normalised before grouping (numbers and ids become
 * placeholders), so a test that needs its own group puts a word, not a number, in the message.
 */
export function uniqueWord(length = 12): string {
  return [...randomBytes(length)].map((b) => String.fromCharCode(97 + (b % 26))).join("");
}

/** The sample report of events/errorsReport.json with a fresh id and an error of its own. */
// biome-ignore lint/suspicious/noExplicitAny: a JSON body the test changes freely
export function sampleReport(changes: Record<string, any> = {}): Record<string, any> {
  const base = JSON.parse(loadEvent("errorsReport").body ?? "{}");
  const fn = uniqueWord();
  return {
    ...base,
    id: `r-${crypto.randomUUID()}`,
    message: `TypeError: Cannot read properties of undefined (reading '${fn}')`,
    stack: [
      `TypeError: Cannot read properties of undefined (reading '${fn}')`,
      `    at ${fn} (chrome-extension://abcdefghijklmnopabcdefghijklmnop/content.js:1412:27)`,
      "    at upgradePrompt (chrome-extension://abcdefghijklmnopabcdefghijklmnop/content.js:980:11)",
      "    at HTMLButtonElement.onClick (chrome-extension://abcdefghijklmnopabcdefghijklmnop/content.js:77:5)",
    ].join("\n"),
    timestamp: new Date().toISOString(),
    ...changes,
  };
}

/** Waits, when the current minute is about to end, until the next one has begun (window tests). */
export async function awayFromMinuteEnd(): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 50_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
}
