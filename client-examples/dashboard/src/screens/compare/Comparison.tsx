import type { ChartConfiguration } from "chart.js";
import { useMemo, type ReactNode } from "react";
import { COMPARE } from "../../api/documents";
import type { SessionRecordFragment as SessionRecord } from "../../api/generated/graphql";
import { ChartView } from "../../components/ChartView";
import { ErrorNotice, Loading } from "../../components/feedback";
import { ModelTable, winnersQuality, type ModelColumn } from "../../components/ModelTable";
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

type Performance = SessionRecord["modelPerformance"][number];

/** A model's figures in session A and in session B; undefined where it won nothing there. */
interface ModelPair {
  model: string;
  a: Performance | undefined;
  b: Performance | undefined;
}

function modelPairs(a: SessionRecord, b: SessionRecord): ModelPair[] {
  const models = new Set([...a.modelPerformance, ...b.modelPerformance].map((entry) => entry.model));
  return [...models].sort().map((model) => ({
    model,
    a: a.modelPerformance.find((entry) => entry.model === model),
    b: b.modelPerformance.find((entry) => entry.model === model),
  }));
}

function winsChart(
  a: SessionRecord,
  b: SessionRecord,
  pairs: readonly ModelPair[],
): ChartConfiguration<"bar"> {
  return {
    type: "bar",
    data: {
      labels: pairs.map((pair) => pair.model),
      datasets: [
        {
          label: `A ${shortId(a.sessionId)}`,
          data: pairs.map((pair) => pair.a?.wins ?? 0),
          backgroundColor: "#6d4aff",
          borderRadius: 4,
        },
        {
          label: `B ${shortId(b.sessionId)}`,
          data: pairs.map((pair) => pair.b?.wins ?? 0),
          backgroundColor: "#0ea5e9",
          borderRadius: 4,
        },
      ],
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  };
}

const PAIR_COLUMNS: ModelColumn<ModelPair>[] = [
  { label: "A wins", className: "number", cell: (pair) => pair.a?.wins ?? 0 },
  { label: "A avg", className: "number", cell: (pair) => winnersQuality(pair.a) },
  { label: "B wins", className: "number", cell: (pair) => pair.b?.wins ?? 0 },
  { label: "B avg", className: "number", cell: (pair) => winnersQuality(pair.b) },
];

function ByModel({ a, b }: { a: SessionRecord; b: SessionRecord }) {
  const pairs = useMemo(() => modelPairs(a, b), [a, b]);
  const chart = useMemo(() => winsChart(a, b, pairs), [a, b, pairs]);
  return (
    <section className="card">
      <h3>Model by model</h3>
      <ChartView config={chart} label="Wins per model in each session" height={240} testId="compare-chart" />
      <ModelTable rows={pairs} columns={PAIR_COLUMNS} testId="compare-models" rowTestId="compare-model-row" />
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
