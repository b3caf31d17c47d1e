import { SESSION_EXAMPLES } from "../../api/documents";
import type { SessionExamplesQuery } from "../../api/generated/graphql";
import { Empty, ErrorNotice, Loading } from "../../components/feedback";
import { ModelTable, type ModelColumn } from "../../components/ModelTable";
import { formatPercent, formatQuality, genreLabel } from "../../format";
import { useConnection } from "../../hooks";

type TrainingExample = NonNullable<
  SessionExamplesQuery["trainingSession"]
>["examples"]["edges"][number]["node"];

type TeacherOutput = TrainingExample["outputs"][number];

function outputColumns(winner: string | null): ModelColumn<TeacherOutput>[] {
  return [
    {
      label: "Latency",
      className: "number",
      cell: (output) => (output.latencyMs == null ? "—" : `${output.latencyMs} ms`),
    },
    { label: "Text quality", className: "number", cell: (output) => formatQuality(output.textQuality) },
    { label: "Note", cell: (output) => output.error ?? (output.model === winner ? "winner" : "") },
  ];
}

function votesFor(example: TrainingExample): [string, number][] {
  const counts = new Map<string, number>();
  for (const vote of example.votes) counts.set(vote.candidate, (counts.get(vote.candidate) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

function ExampleRow({ example }: { example: TrainingExample }) {
  return (
    <li className="example-row" data-testid="session-example" data-index={example.index}>
      <details>
        <summary>
          <span className="example-index">#{example.index + 1}</span>
          <span className="chip">{genreLabel(example.genre)}</span>
          {example.status === "SUCCEEDED" ? (
            <span>
              won by <strong>{example.winner}</strong> · quality {formatQuality(example.finalQuality)}
            </span>
          ) : (
            <span className="field-error">failed</span>
          )}
          <span className="vote-summary">
            {votesFor(example).map(([candidate, count]) => (
              <span key={candidate} className="vote" data-testid="example-vote">
                {candidate} ×{count}
              </span>
            ))}
          </span>
        </summary>
        <div className="example-body">
          <p className="prompt">
            {example.prompt}
            {example.style && <span className="style"> · {example.style}</span>}
          </p>
          {example.error && <p className="field-error">{example.error}</p>}
          {example.status === "SUCCEEDED" && (
            <p className="muted">
              text quality {formatQuality(example.textQuality)} · confidence{" "}
              {example.confidence == null ? "—" : formatPercent(example.confidence)} · final{" "}
              {formatQuality(example.finalQuality)}
            </p>
          )}
          {example.text && <p className="winner-text">{example.text}</p>}
          {example.votes.length > 0 && (
            <p className="votes">
              <span className="votes-label">Votes</span>
              {example.votes.map((vote, position) => (
                <span key={position} className="vote">
                  {vote.voter} → {vote.candidate}
                </span>
              ))}
            </p>
          )}
          <ModelTable rows={example.outputs} columns={outputColumns(example.winner)} modelLabel="Teacher" />
        </div>
      </details>
    </li>
  );
}

export function ExampleList({ sessionId }: { sessionId: string }) {
  const examples = useConnection(
    SESSION_EXAMPLES,
    { sessionId, first: 10 },
    (data) => data.trainingSession?.examples,
  );
  if (examples.error && examples.nodes.length === 0) {
    return <ErrorNotice error={examples.error} onRetry={examples.reload} />;
  }
  if (examples.loading) return <Loading label="Loading the examples…" />;
  if (examples.nodes.length === 0) return <Empty>This session has no recorded examples.</Empty>;
  return (
    <>
      <ul className="example-rows" data-testid="session-examples">
        {examples.nodes.map((example) => (
          <ExampleRow key={example.index} example={example} />
        ))}
      </ul>
      {examples.error && <ErrorNotice error={examples.error} onRetry={examples.loadMore} />}
      {examples.hasNextPage && (
        <button
          type="button"
          className="button small"
          onClick={examples.loadMore}
          disabled={examples.loadingMore}
        >
          {examples.loadingMore
            ? "Loading…"
            : `More examples (${examples.nodes.length} of ${examples.totalCount})`}
        </button>
      )}
    </>
  );
}
