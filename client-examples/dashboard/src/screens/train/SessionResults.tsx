import { STATS } from "../../api/documents";
import type { SessionRecordFragment as SessionRecord } from "../../api/generated/graphql";
import { ErrorNotice, Loading } from "../../components/feedback";
import { ModelBreakdown } from "../../components/ModelBreakdown";
import { ProgressBar } from "../../components/ProgressBar";
import { StatCard } from "../../components/StatCard";
import {
  formatCost,
  formatNumber,
  formatPercent,
  formatQuality,
  formatQualityRange,
  formatTokens,
} from "../../format";
import { useQuery } from "../../hooks";
import { href } from "../../route";
import type { FineTuningRun } from "./progress";

interface Props {
  session: SessionRecord;
  fineTuningRuns: readonly FineTuningRun[];
  onNewSession: () => void;
}

export function SessionResults({ session, fineTuningRuns, onNewSession }: Props) {
  const stats = useQuery(STATS);
  const totals = stats.data?.trainingStats;
  const requested = session.numExamplesRequested;
  const successRate = requested > 0 ? session.numExamplesSuccessful / requested : 0;

  return (
    <section className="card results" data-testid="session-results">
      <h2>Results</h2>
      <div className="stat-grid">
        <StatCard
          label="Success rate"
          value={formatPercent(successRate)}
          rawValue={successRate}
          detail={`${session.numExamplesSuccessful} of ${requested} examples, ${session.numExamplesFailed} failed`}
          testId="result-success-rate"
        />
        <StatCard
          label="Average quality"
          value={formatQuality(session.averageQuality)}
          rawValue={session.averageQuality}
          detail={`min – avg – max: ${formatQualityRange(session.minQuality, session.averageQuality, session.maxQuality)}`}
          testId="result-average-quality"
        />
        <StatCard
          label="Stories saved"
          value={formatNumber(session.storiesSavedCount)}
          rawValue={session.storiesSavedCount}
          detail={session.savedToDatabase ? "quality 8.0 or more" : "saving was off"}
          testId="result-stories-saved"
        />
        <StatCard
          label="Cost"
          value={formatCost(session.costUsd)}
          rawValue={session.costUsd}
          detail={
            session.costUsd == null
              ? `${formatTokens(session.promptTokens, session.completionTokens)}; a teacher has no price`
              : formatTokens(session.promptTokens, session.completionTokens)
          }
          testId="result-cost"
        />
        {totals && (
          <>
            <StatCard
              label="Examples toward fine-tuning"
              value={formatNumber(totals.fineTuningExamples)}
              rawValue={totals.fineTuningExamples}
              detail="all sessions, quality 7.0 or more"
              testId="result-fine-tuning-examples"
            />
            <StatCard
              label="Until next fine-tuning"
              value={formatNumber(totals.untilNextFineTuning)}
              rawValue={totals.untilNextFineTuning}
              detail={
                <ProgressBar
                  value={totals.fineTuningThreshold - totals.untilNextFineTuning}
                  max={totals.fineTuningThreshold}
                  label="Examples collected toward the next fine-tuning run"
                />
              }
              testId="result-until-fine-tuning"
            />
          </>
        )}
      </div>
      {stats.loading && !totals && <Loading label="Loading your totals…" />}
      {stats.error && <ErrorNotice error={stats.error} onRetry={stats.reload} />}
      {fineTuningRuns.map((run) => (
        <p key={run.job.id} className="notice notice-success" data-testid="fine-tuning-triggered">
          {run.examplesCollected} examples collected: a fine-tuning run started on {run.job.numExamples}{" "}
          examples. <a href={href("fine-tuning")}>Follow it</a>
        </p>
      ))}
      <h3>Model performance</h3>
      <ModelBreakdown performance={session.modelPerformance} />
      <div className="actions">
        <button type="button" className="button primary" onClick={onNewSession} data-testid="new-session">
          Start another session
        </button>
        <a className="button" href={href("history", { session: session.sessionId })}>
          Open in History
        </a>
      </div>
    </section>
  );
}
