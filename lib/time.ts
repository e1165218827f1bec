/**
 * Calendar arithmetic in a user's IANA timezone. Quota windows and usage rollups are keyed by
 * the user's local day and month, so a reset happens exactly at local midnight, DST included.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True for a timezone name the runtime knows (`UTC`, `Europe/Berlin`, ...). */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function localParts(instant: number, timeZone: string): LocalParts {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(instant))) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  return parts as unknown as LocalParts;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** The local calendar day of an instant, as `YYYY-MM-DD`. */
export function localDate(instant: Date | number, timeZone: string): string {
  const p = localParts(+instant, timeZone);
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}`;
}

/** The local calendar month of an instant, as `YYYY-MM`. */
export function localMonth(instant: Date | number, timeZone: string): string {
  return localDate(instant, timeZone).slice(0, 7);
}

/** Offset of local time from UTC at an instant, in milliseconds (positive east of Greenwich). */
function offsetAt(instant: number, timeZone: string): number {
  const p = localParts(instant, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/** Adds whole days to a `YYYY-MM-DD` date (pure calendar arithmetic, no timezone). */
export function addDays(date: string, days: number): string {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** Adds whole months to a `YYYY-MM` month. */
export function addMonths(month: string, months: number): string {
  const [y, m] = month.split("-").map(Number) as [number, number];
  return new Date(Date.UTC(y, m - 1 + months, 1)).toISOString().slice(0, 7);
}

/**
 * The first instant of a local day: usually local midnight; where a DST change skips midnight
 * (some zones switch at 00:00), the first instant that belongs to that day; and where the whole
 * day is skipped (Pacific/Apia, 2011-12-30), the first instant of the day after it, so that
 * "the next day starts" never answers an instant of the current day.
 */
export function startOfLocalDay(date: string, timeZone: string): Date {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d);
  let guess = wall - offsetAt(wall, timeZone);
  guess = wall - offsetAt(guess, timeZone);
  if (localDate(guess, timeZone) === date && localDate(guess - 1, timeZone) < date) return new Date(guess);
  // Midnight does not exist, or the guess landed on the wrong side of a change: search the first
  // millisecond whose local date is this day or later. Offsets lie within UTC-12..UTC+14, so the
  // answer lies within 15 hours of the wall-clock midnight read as UTC.
  let lo = wall - 15 * 3600_000;
  let hi = wall + 15 * 3600_000;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (localDate(mid, timeZone) >= date) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
}

/** The next local midnight after an instant: when today's window ends. */
export function nextLocalMidnight(instant: Date | number, timeZone: string): Date {
  return startOfLocalDay(addDays(localDate(instant, timeZone), 1), timeZone);
}

/** The first instant of the next local month: when this month's window ends. */
export function nextLocalMonthStart(instant: Date | number, timeZone: string): Date {
  return startOfLocalDay(`${addMonths(localMonth(instant, timeZone), 1)}-01`, timeZone);
}
