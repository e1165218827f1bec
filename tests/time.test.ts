import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addDays,
  addMonths,
  isValidTimeZone,
  localDate,
  localMonth,
  nextLocalMidnight,
  nextLocalMonthStart,
  startOfLocalDay,
} from "#lib/time";

const iso = (d: Date) => d.toISOString();

describe("local calendar of an instant", () => {
  it("changes date exactly at local midnight (23:59:59.999 -> 00:00)", () => {
    expect(localDate(new Date("2026-12-03T22:59:59.999Z"), "Europe/Berlin")).toBe("2026-12-03");
    expect(localDate(new Date("2026-12-03T23:00:00.000Z"), "Europe/Berlin")).toBe("2026-12-04");
    expect(localDate(new Date("2026-12-03T23:59:59.999Z"), "UTC")).toBe("2026-12-03");
    expect(localDate(new Date("2026-12-04T00:00:00.000Z"), "UTC")).toBe("2026-12-04");
  });

  it("puts month ends and leap days in the right month", () => {
    expect(localMonth(new Date("2026-12-31T23:59:59.999Z"), "UTC")).toBe("2026-12");
    expect(localMonth(new Date("2027-01-01T00:00:00.000Z"), "UTC")).toBe("2027-01");
    expect(localMonth(new Date("2026-12-31T10:00:00.000Z"), "Pacific/Kiritimati")).toBe("2027-01");
    expect(localDate(new Date("2028-02-29T18:29:59.999Z"), "Asia/Kolkata")).toBe("2028-02-29");
    expect(localDate(new Date("2028-02-29T18:30:00.000Z"), "Asia/Kolkata")).toBe("2028-03-01");
  });

  it("knows valid zones", () => {
    expect(isValidTimeZone("America/New_York")).toBe(true);
    expect(isValidTimeZone("Mars/Olympus")).toBe(false);
  });
});

describe("calendar arithmetic", () => {
  it("adds days across month ends and leap days", () => {
    expect(addDays("2028-02-28", 1)).toBe("2028-02-29");
    expect(addDays("2027-02-28", 1)).toBe("2027-03-01");
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01");
    expect(addDays("2027-01-01", -1)).toBe("2026-12-31");
  });

  it("adds months across years", () => {
    expect(addMonths("2026-12", 1)).toBe("2027-01");
    expect(addMonths("2026-01", -1)).toBe("2025-12");
    expect(addMonths("2026-03", -13)).toBe("2025-02");
  });
});

describe("window ends", () => {
  it("follows DST in New York: a 23-hour and a 25-hour day", () => {
    expect(iso(startOfLocalDay("2026-03-08", "America/New_York"))).toBe("2026-03-08T05:00:00.000Z");
    expect(iso(startOfLocalDay("2026-03-09", "America/New_York"))).toBe("2026-03-09T04:00:00.000Z");
    expect(iso(nextLocalMidnight(new Date("2026-03-09T03:59:59.999Z"), "America/New_York"))).toBe(
      "2026-03-09T04:00:00.000Z",
    );
    expect(iso(startOfLocalDay("2026-11-01", "America/New_York"))).toBe("2026-11-01T04:00:00.000Z");
    expect(iso(startOfLocalDay("2026-11-02", "America/New_York"))).toBe("2026-11-02T05:00:00.000Z");
  });

  it("starts a day at its first instant where DST skips midnight", () => {
    // Santiago, Havana and Beirut move their clocks from 00:00 to 01:00.
    expect(iso(startOfLocalDay("2026-09-06", "America/Santiago"))).toBe("2026-09-06T04:00:00.000Z");
    expect(iso(startOfLocalDay("2026-03-08", "America/Havana"))).toBe("2026-03-08T05:00:00.000Z");
    expect(iso(startOfLocalDay("2026-03-29", "Asia/Beirut"))).toBe("2026-03-28T22:00:00.000Z");
    // Santiago falls back from 24:00 to 23:00: the 4th of April lasts 25 hours.
    expect(iso(nextLocalMidnight(new Date("2026-04-05T03:30:00.000Z"), "America/Santiago"))).toBe(
      "2026-04-05T04:00:00.000Z",
    );
  });

  it("skips a day that does not exist (Samoa, 2011-12-30)", () => {
    expect(iso(nextLocalMidnight(new Date("2011-12-29T12:00:00.000Z"), "Pacific/Apia"))).toBe(
      "2011-12-30T10:00:00.000Z",
    );
  });

  it("ends months at local month start, leap years included", () => {
    expect(iso(nextLocalMonthStart(new Date("2028-02-29T18:29:59.999Z"), "Asia/Kolkata"))).toBe(
      "2028-02-29T18:30:00.000Z",
    );
    expect(iso(nextLocalMonthStart(new Date("2026-12-31T23:59:59.999Z"), "UTC"))).toBe(
      "2027-01-01T00:00:00.000Z",
    );
    expect(iso(nextLocalMonthStart(new Date("2026-10-31T12:00:00.000Z"), "America/New_York"))).toBe(
      "2026-11-01T04:00:00.000Z",
    );
  });

  it("property: the next midnight is after the instant, and the millisecond before it is still today", () => {
    const zones = [
      "UTC",
      "America/New_York",
      "America/Santiago",
      "America/Havana",
      "Asia/Beirut",
      "Australia/Lord_Howe",
      "Asia/Kathmandu",
      "Pacific/Kiritimati",
      "Etc/GMT+12",
      "Europe/London",
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2030, 0, 1) }),
        fc.constantFrom(...zones),
        (t, zone) => {
          const next = nextLocalMidnight(t, zone).getTime();
          expect(next).toBeGreaterThan(t);
          expect(localDate(next - 1, zone)).toBe(localDate(t, zone));
          expect(localDate(next, zone)).toBe(addDays(localDate(t, zone), 1));
          const month = nextLocalMonthStart(t, zone).getTime();
          expect(localMonth(month - 1, zone)).toBe(localMonth(t, zone));
          expect(localMonth(month, zone)).toBe(addMonths(localMonth(t, zone), 1));
        },
      ),
      { numRuns: 300 },
    );
  });
});
