import type { Genre, SessionStatus, TrainingHistoryFilter } from "../../api/generated/graphql";

export interface FilterForm {
  from: string;
  to: string;
  genre: Genre | "";
  minQuality: string;
  status: SessionStatus | "";
  fineTuning: "" | "yes" | "no";
}

export const NO_FILTER: FilterForm = {
  from: "",
  to: "",
  genre: "",
  minQuality: "",
  status: "",
  fineTuning: "",
};

function startOfLocalDay(date: string, addDays = 0): string {
  const day = new Date(`${date}T00:00:00`);
  day.setDate(day.getDate() + addDays);
  return day.toISOString();
}

/** The API filter for the form; the date range covers whole local days, both ends included. */
export function toHistoryFilter(form: FilterForm): TrainingHistoryFilter {
  const filter: TrainingHistoryFilter = {};
  if (form.from) filter.startedAfter = startOfLocalDay(form.from);
  if (form.to) filter.startedBefore = startOfLocalDay(form.to, 1);
  if (form.genre) filter.genre = form.genre;
  const minQuality = Number.parseFloat(form.minQuality);
  if (Number.isFinite(minQuality)) filter.minAverageQuality = minQuality;
  if (form.status) filter.status = form.status;
  if (form.fineTuning) filter.fineTuningTriggered = form.fineTuning === "yes";
  return filter;
}

export function isFiltered(form: FilterForm): boolean {
  return Object.values(toHistoryFilter(form)).length > 0;
}
