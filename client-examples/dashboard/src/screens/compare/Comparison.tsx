import type { ChartConfiguration } from "chart.js";
import { useMemo, type ReactNode } from "react";
import { COMPARE } from "../../api/documents";
import type { SessionRecordFragment as SessionRecord } from "../../api/generated/graphql";
import { ChartView } from "../../components/ChartView";
import { ErrorNotice, Loading } from "../../components/feedback";
import { StatusBadge } from "../../components/StatusBadge";
import {
  formatDateTime,
  formatDuration,
  formatPercent,
  formatQuality,
  genreLabel,
  shortId,
} from "../../format";
import { useQuery } from "../../hooks";

interface Field {
  label: string;
  show: (session: SessionRecord) => ReactNode;
  score?: (session: SessionRecord) => number | null;
}

function successRate(session: SessionRecord): number | null {
  return session.numExamplesRequested ? session.numExamplesSuccessful / session.numExamplesRequested : null;
}

const FIELDS: Field[] = [
  { label: "Started", show: (s) => formatDateTime(s.startedAt) },
  { label: "Status", show: (s) => <StatusBadge status={s.status} /> },
  {
    label: "Duration",
    show: (s) => formatDuration(s.totalTimeSeconds),
    score: (s) => (s.totalTimeSeconds == null ? null : -s.totalTimeSeconds),
  },
  { label: "Examples requested", show: (s) => s.numExamplesRequested },
  { label: "Succeeded", show: (s) => s.numExamplesSuccessful },
  { label: "Failed", show: (s) => s.numExamplesFailed, score: (s) => -s.numExamplesFailed },
  {
    label: "Success rate",
    show: (s) => {
      const rate = successRate(s);
      return rate == null ? "—" : formatPercent(rate);
    },
    score: successRate,
  },
  { label: "Average quality", show: (s) => formatQuality(s.averageQuality), score: (s) => s.averageQuality },
  { label: "Min quality", show: (s) => formatQuality(s.minQuality), score: (s) => s.minQuality },
  { label: "Max quality", show: (s) => formatQuality(s.maxQuality), score: (s) => s.maxQuality },
  { label: "Best model", show: (s) => s.bestPerformingModel ?? "—" },
  { label: "Voting", show: (s) => s.votingStrategy.toLowerCase() },
  { label: "Teachers", show: (s) => s.teachers.join(", ") || "—" },
  { label: "Genres selected", show: (s) => s.genresSelected.map(genreLabel).join(", ") || "balanced random" },
  { label: "Stories saved", show: (s) => s.storiesSavedCount },
  { label: "Stored in memory", show: (s) => (s.storedInMemory ? "yes" : "no") },
  { label: "Saved to database", show: (s) => (s.savedToDatabase ? "yes" : "no") },
  {
    label: "Examples toward fine-tuning",
    show: (s) => `${s.trainingExamplesBefore} → ${s.trainingExamplesAfter ?? "—"}`,
  },
  { label: "Fine-tuning triggered", show: (s) => (s.fineTuningTriggered ? "yes" : "no") },
];

function better(field: Field, mine: SessionRecord, theirs: SessionRecord): boolean {
  const a = field.score?.(mine) ?? null;
  const b = field.score?.(theirs) ?? null;
  return a !== null && b !== null && a > b;
}

function winsChart(a: SessionRecord, b: SessionRecord, models: readonly string[]): ChartConfiguration<"bar"> {
  const winsOf = (session: SessionRecord, model: string) =>
    session.modelPerformance.find((entry) => entry.model === model)?.wins ?? 0;
  return {
    type: "bar",
    data: {
      labels: [...models],
      datasets: [
        {
          label: `A ${shortId(a.sessionId)}`,
          data: models.map((m) => winsOf(a, m)),
          backgroundColor: "#6d4aff",
          borderRadius: 4,
        },
        {
          label: `B ${shortId(b.sessionId)}`,
          data: models.map((m) => winsOf(b, m)),
          backgroundColor: "#0ea5e9",
          borderRadius: 4,
        },
      ],
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  };
}

function ByModel({ a, b }: { a: SessionRecord; b: SessionRecord }) {
  const models = useMemo(
    () => [...new Set([...a.modelPerformance, ...b.modelPerformance].map((entry) => entry.model))].sort(),
    [a, b],
  );
  const chart = useMemo(() => winsChart(a, b, models), [a, b, models]);
  const entry = (session: SessionRecord, model: string) =>
    session.modelPerformance.find((e) => e.model === model);
  return (
    <section className="card">
      <h3>Model by model</h3>
      <ChartView config={chart} label="Wins per model in each session" height={240} testId="compare-chart" />
      <table className="table compact" data-testid="compare-models">
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col" className="number">
              A wins
            </th>
            <th scope="col" className="number">
              A avg
            </th>
            <th scope="col" className="number">
              B wins
            </th>
            <th scope="col" className="number">
              B avg
            </th>
          </tr>
        </thead>
        <tbody>
          {models.map((model) => {
            const left = entry(a, model);
            const right = entry(b, model);
            return (
              <tr key={model} data-testid="compare-model-row">
                <td data-label="Model">{model}</td>
                <td data-label="A wins" className="number">
                  {left?.wins ?? 0}
                </td>
                <td data-label="A avg" className="number">
                  {formatQuality(left?.averageQuality)}
                </td>
                <td data-label="B wins" className="number">
                  {right?.wins ?? 0}
                </td>
                <td data-label="B avg" className="number">
                  {formatQuality(right?.averageQuality)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

export function Comparison({ a, b }: { a: string; b: string }) {
  const { data, error, reload } = useQuery(COMPARE, { a, b });
  if (error) return <ErrorNotice error={error} onRetry={reload} />;
  if (!data) return <Loading label="Loading both sessions…" />;
  if (!data.a || !data.b)
    return <p className="field-error">One of these sessions does not exist or is not yours.</p>;
  const left = data.a;
  const right = data.b;
  return (
    <>
      <section className="card">
        <table className="table comparison" data-testid="comparison">
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">
                A <code data-testid="compare-a-id">{left.sessionId}</code>
              </th>
              <th scope="col">
                B <code data-testid="compare-b-id">{right.sessionId}</code>
              </th>
            </tr>
          </thead>
          <tbody>
            {FIELDS.map((field) => (
              <tr key={field.label}>
                <th scope="row">{field.label}</th>
                <td className={better(field, left, right) ? "better" : undefined}>{field.show(left)}</td>
                <td className={better(field, right, left) ? "better" : undefined}>{field.show(right)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <ByModel a={left} b={right} />
    </>
  );
}
