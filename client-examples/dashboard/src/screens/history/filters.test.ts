import { describe, expect, test } from "vitest";
import { isFiltered, NO_FILTER, toHistoryFilter, type FilterForm } from "./filters";

function form(fields: Partial<FilterForm>): FilterForm {
  return { ...NO_FILTER, ...fields };
}

describe("toHistoryFilter", () => {
  test("asks for nothing when the form is empty", () => {
    expect(toHistoryFilter(NO_FILTER)).toEqual({});
  });

  test("covers whole local days, both ends included", () => {
    expect(toHistoryFilter(form({ from: "2026-01-15", to: "2026-01-20" }))).toEqual({
      startedAfter: "2026-01-15T05:00:00.000Z",
      startedBefore: "2026-01-21T05:00:00.000Z",
    });
  });

  test("ends a day at the next local midnight when the clocks change", () => {
    // 8 March 2026 is 23 hours long in New York: it starts in EST and ends in EDT.
    expect(toHistoryFilter(form({ from: "2026-03-08", to: "2026-03-08" }))).toEqual({
      startedAfter: "2026-03-08T05:00:00.000Z",
      startedBefore: "2026-03-09T04:00:00.000Z",
    });
  });

  test("passes the genre, the status and the fine-tuning choice as the schema spells them", () => {
    expect(toHistoryFilter(form({ genre: "FAIRY_TALE", status: "INTERRUPTED", fineTuning: "yes" }))).toEqual({
      genre: "FAIRY_TALE",
      status: "INTERRUPTED",
      fineTuningTriggered: true,
    });
    expect(toHistoryFilter(form({ fineTuning: "no" }))).toEqual({ fineTuningTriggered: false });
  });

  test("reads the minimum quality as a number, zero included, and drops what is not one", () => {
    expect(toHistoryFilter(form({ minQuality: "7.5" }))).toEqual({ minAverageQuality: 7.5 });
    expect(toHistoryFilter(form({ minQuality: "0" }))).toEqual({ minAverageQuality: 0 });
    expect(toHistoryFilter(form({ minQuality: "" }))).toEqual({});
    expect(toHistoryFilter(form({ minQuality: "good" }))).toEqual({});
  });
});

describe("isFiltered", () => {
  test("is true once any field narrows the history", () => {
    expect(isFiltered(NO_FILTER)).toBe(false);
    expect(isFiltered(form({ to: "2026-01-20" }))).toBe(true);
    expect(isFiltered(form({ fineTuning: "no" }))).toBe(true);
    expect(isFiltered(form({ minQuality: "0" }))).toBe(true);
  });

  test("is false while the minimum quality is not a number", () => {
    expect(isFiltered(form({ minQuality: "good" }))).toBe(false);
  });
});
