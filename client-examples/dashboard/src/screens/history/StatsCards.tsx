import { STATS } from "../../api/documents";
import { ErrorNotice, Loading } from "../../components/feedback";
import { StatCard } from "../../components/StatCard";
import { countOf, formatCost, formatDuration, formatNumber, formatQuality, formatTokens } from "../../format";
import { useQuery } from "../../hooks";

export function StatsCards() {
  const { data, error, reload } = useQuery(STATS);
  if (error) return <ErrorNotice error={error} onRetry={reload} />;
  if (!data) return <Loading label="Loading your statistics…" />;
  const stats = data.trainingStats;
  return (
    <div className="stat-grid four" data-testid="stats-cards">
      <StatCard
        label="Training sessions"
        value={formatNumber(stats.totalSessions)}
        rawValue={stats.totalSessions}
        detail={
          <span data-testid="stat-fine-tuning-sessions" data-value={stats.fineTuningSessionsCount}>
            {stats.fineTuningSessionsCount} triggered fine-tuning
          </span>
        }
        testId="stat-total-sessions"
      />
      <StatCard
        label="Examples generated"
        value={formatNumber(stats.totalExamplesGenerated)}
        rawValue={stats.totalExamplesGenerated}
        detail={
          <span data-testid="stat-stories-saved" data-value={stats.totalStoriesSaved}>
            {countOf(stats.totalStoriesSaved, "story", "stories")} saved
          </span>
        }
        testId="stat-total-examples"
      />
      <StatCard
        label="Average quality"
        value={formatQuality(stats.averageQuality)}
        rawValue={stats.averageQuality}
        detail={
          <span data-testid="stat-training-time" data-value={stats.totalTrainingTimeSeconds}>
            {formatDuration(stats.totalTrainingTimeSeconds)} of training
          </span>
        }
        testId="stat-average-quality"
      />
      <StatCard
        label="Cost"
        value={formatCost(stats.costUsd)}
        rawValue={stats.costUsd}
        detail={
          <span data-testid="stat-tokens" data-value={stats.promptTokens + stats.completionTokens}>
            {formatTokens(stats.promptTokens, stats.completionTokens)}
            {stats.sessionsWithKnownCost < stats.totalSessions &&
              `; cost known for ${stats.sessionsWithKnownCost} of ${stats.totalSessions} sessions`}
          </span>
        }
        testId="stat-cost"
      />
    </div>
  );
}
