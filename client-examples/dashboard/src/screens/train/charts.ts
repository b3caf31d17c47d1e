import type { ChartConfiguration } from "chart.js";
import type { Genre } from "../../api/generated/graphql";
import { PALETTE } from "../../components/ChartView";
import { genreLabel } from "../../format";

function byCount<K extends string>(counts: Readonly<Partial<Record<K, number>>>): [K, number][] {
  return (Object.entries(counts) as [K, number][]).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** Wins per model, each model in the colour of its place in the ensemble. */
export function winsChart(
  wins: Readonly<Record<string, number>>,
  teachers: readonly string[],
): ChartConfiguration<"bar"> {
  const entries = byCount(wins);
  const colour = (model: string) =>
    PALETTE[Math.max(0, teachers.indexOf(model)) % PALETTE.length] ?? "#6d4aff";
  return {
    type: "bar",
    data: {
      labels: entries.map(([model]) => model),
      datasets: [
        {
          label: "Wins",
          data: entries.map(([, count]) => count),
          backgroundColor: entries.map(([model]) => colour(model)),
          borderRadius: 4,
        },
      ],
    },
    options: {
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  };
}

export function genreChart(genres: Readonly<Partial<Record<Genre, number>>>): ChartConfiguration<"bar"> {
  const entries = byCount(genres);
  return {
    type: "bar",
    data: {
      labels: entries.map(([genre]) => genreLabel(genre)),
      datasets: [
        {
          label: "Examples",
          data: entries.map(([, count]) => count),
          backgroundColor: "#0ea5e9",
          borderRadius: 4,
        },
      ],
    },
    options: {
      indexAxis: "y",
      plugins: { legend: { display: false } },
      scales: {
        x: { beginAtZero: true, ticks: { precision: 0 } },
        y: { ticks: { autoSkip: false, font: { size: 11 } } },
      },
    },
  };
}
