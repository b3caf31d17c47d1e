import { HISTORY } from "../../api/documents";
import type { SessionSummaryFragment as SessionSummary } from "../../api/generated/graphql";
import { Empty, ErrorNotice, Loading } from "../../components/feedback";
import { formatDateTime, formatQuality, shortId } from "../../format";
import { useQuery } from "../../hooks";
import { navigate, useRoute } from "../../route";
import { Comparison } from "./Comparison";

const CHOICES = 100;

function describe(session: SessionSummary): string {
  return `${formatDateTime(session.startedAt)} · ${session.numExamplesSuccessful}/${session.numExamplesRequested} · avg ${formatQuality(session.averageQuality)} · ${shortId(session.sessionId)}`;
}

interface PickerProps {
  label: string;
  value: string;
  sessions: readonly SessionSummary[];
  onChange: (sessionId: string) => void;
  testId: string;
}

function SessionPicker({ label, value, sessions, onChange, testId }: PickerProps) {
  const known = value === "" || sessions.some((session) => session.sessionId === value);
  return (
    <label className="picker">
      {label}
      <select value={value} onChange={(event) => onChange(event.target.value)} data-testid={testId}>
        <option value="">Choose a session…</option>
        {!known && <option value={value}>{value}</option>}
        {sessions.map((session) => (
          <option key={session.sessionId} value={session.sessionId}>
            {describe(session)}
          </option>
        ))}
      </select>
    </label>
  );
}

export function CompareScreen() {
  const { params } = useRoute();
  const a = params.get("a") ?? "";
  const b = params.get("b") ?? "";
  const choices = useQuery(HISTORY, {
    first: CHOICES,
    orderBy: "STARTED_AT_DESC",
  });

  if (choices.error) return <ErrorNotice error={choices.error} onRetry={choices.reload} />;
  if (!choices.data) return <Loading label="Loading your sessions…" />;
  const sessions = choices.data.trainingHistory.edges.map((edge) => edge.node);
  if (sessions.length < 2) return <Empty>Compare needs two sessions; train another one first.</Empty>;

  return (
    <>
      <section className="card">
        <h2>Compare two sessions</h2>
        <div className="pickers">
          <SessionPicker
            label="Session A"
            value={a}
            sessions={sessions}
            onChange={(id) => navigate("compare", { a: id, b })}
            testId="compare-a"
          />
          <SessionPicker
            label="Session B"
            value={b}
            sessions={sessions}
            onChange={(id) => navigate("compare", { a, b: id })}
            testId="compare-b"
          />
        </div>
      </section>
      {a && b ? <Comparison a={a} b={b} /> : <Empty>Pick a session on each side.</Empty>}
    </>
  );
}
