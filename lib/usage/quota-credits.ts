/**
 * Reads the credits charged per local day from the quota module's monthly counter items
 * (`keys.quotaMonth(userId, "YYYY-MM")`, attribute `dDD` = credits charged on day DD of that
 * local month). Kept here, against that documented contract, so usage analytics does not
 * depend on the quota module's internals; lib/quotas.ts may export the same reader, and then
 * one of the two should serve both.
 */

const MONTH_SK = /^QUOTA#(\d{4}-\d{2})$/;

/** The `dDD` attribute names of a month, d01..d31 (for a ProjectionExpression). */
export const DAY_ATTRIBUTES = Array.from({ length: 31 }, (_, i) => `d${String(i + 1).padStart(2, "0")}`);

/** Credits charged per local day (`YYYY-MM-DD` → credits) of one monthly quota item; days with 0 are left out. */
export function dailyCreditsFromQuotaItem(item: Record<string, unknown>): Map<string, number> {
  const out = new Map<string, number>();
  const month = typeof item.SK === "string" ? MONTH_SK.exec(item.SK)?.[1] : undefined;
  if (!month) return out;
  for (const name of DAY_ATTRIBUTES) {
    const value = item[name];
    if (typeof value === "number" && Number.isFinite(value) && value !== 0) {
      out.set(`${month}-${name.slice(1)}`, value);
    }
  }
  return out;
}
