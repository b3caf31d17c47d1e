import { useMemo } from "react";
import { ChartView } from "../../components/ChartView";
import { Empty, ErrorNotice } from "../../components/feedback";
import { genreChart, winsChart } from "./charts";
import { ExampleCard } from "./ExampleCard";
import { LiveHeader } from "./LiveHeader";
import type { LiveState } from "./progress";
import { SessionResults } from "./SessionResults";
import { useTrainingProgress } from "./useTrainingProgress";
import { useWinnerTexts } from "./useWinnerTexts";

const VISIBLE_EXAMPLES = 20;

function LiveCharts({ live }: { live: LiveState }) {
  const wins = useMemo(() => winsChart(live.wins, live.teachers), [live.wins, live.teachers]);
  const genres = useMemo(() => genreChart(live.genres), [live.genres]);
  const height = Math.max(220, 50 + 14 * Object.keys(live.genres).length);
  return (
    <div className="chart-pair">
      <section className="card">
        <h3>Wins by model</h3>
        {Object.keys(live.wins).length ? (
          <ChartView
            config={wins}
            label="Wins by model in this session"
            testId="wins-chart"
            height={height}
          />
        ) : (
          <Empty>Wins appear as examples are scored.</Empty>
        )}
      </section>
      <section className="card">
        <h3>Genre distribution</h3>
        {Object.keys(live.genres).length ? (
          <ChartView
            config={genres}
            label="Examples per genre in this session"
            testId="genre-chart"
            height={height}
          />
        ) : (
          <Empty>Genres appear as examples start.</Empty>
        )}
      </section>
    </div>
  );
}

function LiveExamples({ sessionId, live }: { sessionId: string; live: LiveState }) {
  const winner = useWinnerTexts(sessionId, live.completed + live.failed);
  const recent = useMemo(
    () => [...live.examples.values()].slice(-VISIBLE_EXAMPLES).reverse(),
    [live.examples],
  );
  return (
    <section className="card">
      <h3>
        Examples{" "}
        {live.examples.size > VISIBLE_EXAMPLES && (
          <span className="legend-note">
            the latest {VISIBLE_EXAMPLES} of {live.examples.size}
          </span>
        )}
      </h3>
      {winner.error && <ErrorNotice error={winner.error} />}
      <div className="example-list" data-testid="example-list">
        {recent.map((example) => (
          <ExampleCard
            key={example.index}
            example={example}
            teachers={live.teachers}
            text={winner.texts.get(example.index)}
          />
        ))}
      </div>
    </section>
  );
}

interface Props {
  sessionId: string;
  onNewSession: () => void;
}

export function LiveSession({ sessionId, onNewSession }: Props) {
  const { live, stream, error, retry } = useTrainingProgress(sessionId);
  return (
    <div
      className="live"
      data-testid="live-session"
      data-session-id={sessionId}
      data-status={live.status ?? ""}
      data-last-seq={live.lastSeq}
    >
      <LiveHeader
        sessionId={sessionId}
        live={live}
        stream={stream}
        onResumed={retry}
        onNewSession={onNewSession}
      />
      {error && <ErrorNotice error={error} onRetry={retry} />}
      {live.finished && (
        <SessionResults
          session={live.finished}
          fineTuningRuns={live.fineTuningRuns}
          onNewSession={onNewSession}
        />
      )}
      <LiveCharts live={live} />
      <LiveExamples sessionId={sessionId} live={live} />
    </div>
  );
}
