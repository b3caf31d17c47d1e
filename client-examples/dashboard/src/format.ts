import type { FineTuneStatus, Genre, SessionStatus } from "./api/generated/graphql";

function titleCase(constant: string): string {
  return constant
    .toLowerCase()
    .split("_")
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join(" ");
}

export function genreLabel(genre: Genre): string {
  return titleCase(genre);
}

export function statusLabel(status: SessionStatus | FineTuneStatus): string {
  return titleCase(status);
}

export function formatQuality(quality: number | null | undefined): string {
  return quality == null ? "—" : quality.toFixed(1);
}

export function formatQualityRange(min: number | null, average: number | null, max: number | null): string {
  if (average == null) return "—";
  return `${formatQuality(min)} – ${formatQuality(average)} – ${formatQuality(max)}`;
}

/** "1 story", "2 stories". */
export function countOf(count: number, one: string, many: string): string {
  return `${formatNumber(count)} ${count === 1 ? one : many}`;
}

export function formatPercent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

export function formatNumber(value: number): string {
  return value.toLocaleString();
}

/** US dollars to the cent, or to four significant digits under a cent; a dash when unknown. */
export function formatCost(usd: number | null | undefined): string {
  if (usd == null) return "—";
  if (usd === 0 || usd >= 0.01) return `$${usd.toFixed(2)}`;
  return `$${usd.toPrecision(4).replace(/0+$/, "")}`;
}

/** Prompt and completion tokens together; a dash when they were not counted. */
export function formatTokens(
  prompt: number | null | undefined,
  completion: number | null | undefined,
): string {
  if (prompt == null || completion == null) return "—";
  return `${(prompt + completion).toLocaleString()} tokens`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

export function formatDateTime(iso: string): string {
  return dateTime.format(new Date(iso));
}

export function formatDay(iso: string): string {
  return dateOnly.format(new Date(iso));
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null) return "—";
  if (seconds > 0 && seconds < 1) return "under 1 s";
  const total = Math.round(seconds);
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min ${String(total % 60).padStart(2, "0")} s`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${String(minutes % 60).padStart(2, "0")} min`;
}

export function shortId(sessionId: string): string {
  return sessionId.slice(0, 8);
}
