import type { ChartConfiguration } from "chart.js";
import { useMemo, useState } from "react";
import { TRENDS } from "../../api/documents";
import type { TrendsQuery } from "../../api/generated/graphql";
import { ChartView } from "../../components/ChartView";
import { Empty, ErrorNotice, Loading } from "../../components/feedback";
import { averageQualityColumn, ModelTable, winsColumn, type ModelColumn } from "../../components/ModelTable";
import { formatCost, formatDay, formatNumber } from "../../format";
import { useQuery } from "../../hooks";

type QualityPoint = TrendsQuery["qualityTrend"][number];
type LeaderboardEntry = TrendsQuery["modelLeaderboard"][number];

const LEADERBOARD_COLUMNS: ModelColumn<LeaderboardEntry>[] = [
  winsColumn,
  averageQualityColumn,
  { label: "Sessions", className: "number", cell: (entry) => entry.sessions },
];

const RANGES = [7, 30, 90, 365] as const;

type MixedChart = ChartConfiguration<"bar" | "line", (number | null)[], string>;

function qualityChart(points: readonly QualityPoint[]): MixedChart {
  return {
    type: "bar",
    data: {
      labels: points.map((point) => formatDay(point.day)),
      datasets: [
        {
          type: "line",
          label: "Average quality",
          data: points.map((point) => point.averageQuality),
          borderColor: "#6d4aff",
          backgroundColor: "#6d4aff",
          spanGaps: true,
          tension: 0.25,
          order: 0,
          yAxisID: "quality",
        },
        {
          type: "bar",
          label: "Sessions",
          data: points.map((point) => point.sessions),
          backgroundColor: "rgba(14, 165, 233, 0.3)",
          borderRadius: 3,
          maxBarThickness: 18,
          order: 1,
          yAxisID: "sessions",
        },
      ],
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        quality: { position: "left", min: 0, max: 10, title: { display: true, text: "quality" } },
        sessions: {
          position: "right",
          beginAtZero: true,
          grace: "100%",
          ticks: { precision: 0 },
          grid: { drawOnChartArea: false },
          title: { display: true, text: "sessions" },
        },
      },
    },
  };
}

function spendChart(points: readonly QualityPoint[]): MixedChart {
  return {
    type: "bar",
    data: {
      labels: points.map((point) => formatDay(point.day)),
      datasets: [
        {
          type: "bar",
          label: "Cost (USD)",
          data: points.map((point) => point.costUsd),
          backgroundColor: "#10b981",
          borderRadius: 3,
          maxBarThickness: 18,
          order: 1,
          yAxisID: "cost",
        },
        {
          type: "line",
          label: "Tokens",
          // Days whose sessions were recorded by an external trainer have no tokens counted.
          data: points.map((point) => point.promptTokens + point.completionTokens || null),
          borderColor: "#6d4aff",
          backgroundColor: "#6d4aff",
          spanGaps: true,
          tension: 0.25,
          order: 0,
          yAxisID: "tokens",
        },
      ],
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        cost: { position: "left", beginAtZero: true, title: { display: true, text: "USD" } },
        tokens: {
          position: "right",
          beginAtZero: true,
          grid: { drawOnChartArea: false },
          title: { display: true, text: "tokens" },
        },
      },
    },
  };
}

/** The period's tokens and the cost of its sessions whose cost is known. */
function spendSummary(points: readonly QualityPoint[], days: number): string {
  const tokens = points.reduce((sum, point) => sum + point.promptTokens + point.completionTokens, 0);
  const costs = points.flatMap((point) => (point.costUsd == null ? [] : [point.costUsd]));
  const cost = costs.length ? formatCost(costs.reduce((sum, value) => sum + value, 0)) : "an unknown cost";
  return `${formatNumber(tokens)} tokens and ${cost} over the last ${days} days.`;
}

function leaderboardChart(entries: readonly LeaderboardEntry[]): MixedChart {
  return {
    type: "bar",
    data: {
      labels: entries.map((entry) => entry.model),
      datasets: [
        {
          type: "bar",
          label: "Wins",
          data: entries.map((entry) => entry.wins),
          backgroundColor: "#6d4aff",
          borderRadius: 4,
          order: 1,
          yAxisID: "wins",
        },
        {
          type: "line",
          label: "Average quality",
          data: entries.map((entry) => (entry.wins ? entry.averageQuality : null)),
          borderColor: "#f59e0b",
          backgroundColor: "#f59e0b",
          showLine: false,
          pointRadius: 6,
          pointBorderColor: "#fff",
          pointBorderWidth: 2,
          order: 0,
          yAxisID: "quality",
        },
      ],
    },
    options: {
      scales: {
        wins: {
          position: "left",
          beginAtZero: true,
          ticks: { precision: 0 },
          title: { display: true, text: "wins" },
        },
        quality: {
          position: "right",
          min: 0,
          max: 10,
          grid: { drawOnChartArea: false },
          title: { display: true, text: "quality" },
        },
      },
    },
  };
}

export function TrendsScreen() {
  const [days, setDays] = useState<number>(30);
  const { data, error, reload } = useQuery(TRENDS, { days });
  const quality = useMemo(() => qualityChart(data?.qualityTrend ?? []), [data]);
  const leaderboard = useMemo(() => leaderboardChart(data?.modelLeaderboard ?? []), [data]);
  const spend = useMemo(() => spendChart(data?.qualityTrend ?? []), [data]);

  if (error) return <ErrorNotice error={error} onRetry={reload} />;
  if (!data) return <Loading label="Loading the trends…" />;
  const hasSessions = data.qualityTrend.some((point) => point.sessions > 0);

  return (
    <>
      <section className="card">
        <div className="section-head">
          <h2>Quality over time</h2>
          <div className="segmented" role="group" aria-label="Period">
            {RANGES.map((range) => (
              <button
                key={range}
                type="button"
                className={range === days ? "active" : undefined}
                aria-pressed={range === days}
                onClick={() => setDays(range)}
                data-testid={`trend-days-${range}`}
              >
                {range} days
              </button>
            ))}
          </div>
        </div>
        {hasSessions ? (
          <ChartView
            config={quality}
            label={`Average quality per day over the last ${days} days`}
            testId="quality-chart"
            height={300}
          />
        ) : (
          <Empty>No sessions in the last {days} days.</Empty>
        )}
      </section>
      {hasSessions && (
        <section className="card">
          <h2>Tokens and cost</h2>
          <p className="hint" data-testid="spend-summary">
            {spendSummary(data.qualityTrend, days)}
          </p>
          <ChartView
            config={spend}
            label={`Cost and tokens per day over the last ${days} days`}
            testId="spend-chart"
            height={240}
          />
        </section>
      )}
      <section className="card">
        <h2>Model leaderboard</h2>
        {data.modelLeaderboard.length === 0 ? (
          <Empty>No model has won an example yet.</Empty>
        ) : (
          <>
            <ChartView
              config={leaderboard}
              label="Wins and average quality per model"
              testId="leaderboard-chart"
              height={280}
            />
            <ModelTable rows={data.modelLeaderboard} columns={LEADERBOARD_COLUMNS} testId="leaderboard" />
          </>
        )}
      </section>
    </>
  );
}
