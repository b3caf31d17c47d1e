import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, test } from "vitest";
import { GENRES, SESSION_STATUSES } from "../../api/enums";
import { NO_FILTER, type FilterForm } from "./filters";
import { HistoryFilters } from "./HistoryFilters";

function render(value: FilterForm): string {
  return renderToStaticMarkup(<HistoryFilters value={value} onChange={() => undefined} />);
}

/** The options of the select with this test id: [value, label, selected]. */
function options(markup: string, testId: string): [string, string, boolean][] {
  const select = new RegExp(`<select[^>]*data-testid="${testId}"[^>]*>(.*?)</select>`).exec(markup);
  if (!select?.[1]) throw new Error(`no select ${testId} in ${markup}`);
  return [...select[1].matchAll(/<option value="([^"]*)"( selected="")?>([^<]*)<\/option>/g)].map(
    ([, value = "", selected, label = ""]) => [value, label, selected !== undefined],
  );
}

describe("HistoryFilters", () => {
  test("offers every genre of the schema, in its order, after any genre", () => {
    const genres = options(render(NO_FILTER), "filter-genre");

    expect(genres.map(([value]) => value)).toEqual(["", ...GENRES]);
    expect(genres).toContainEqual(["FAIRY_TALE", "Fairy Tale", false]);
    expect(genres[0]).toEqual(["", "Any genre", true]);
  });

  test("offers every session status of the schema", () => {
    const statuses = options(render(NO_FILTER), "filter-status");

    expect(statuses.map(([value]) => value)).toEqual(["", ...SESSION_STATUSES]);
  });

  test("shows the form's choices as selected", () => {
    const markup = render({ ...NO_FILTER, genre: "HORROR", status: "FAILED", fineTuning: "no" });

    expect(options(markup, "filter-genre").filter(([, , selected]) => selected)).toEqual([
      ["HORROR", "Horror", true],
    ]);
    expect(options(markup, "filter-status").find(([, , selected]) => selected)?.[0]).toBe("FAILED");
    expect(options(markup, "filter-fine-tuning").find(([, , selected]) => selected)?.[0]).toBe("no");
  });

  test("offers to clear the filters only when there are some", () => {
    expect(render(NO_FILTER)).not.toContain('data-testid="clear-filters"');
    expect(render({ ...NO_FILTER, from: "2026-01-15" })).toContain('data-testid="clear-filters"');
  });
});
