import { STATS } from "../../api/documents";
import { ErrorNotice, Loading } from "../../components/feedback";
import { StatCard } from "../../components/StatCard";
import { countOf, formatDuration, formatNumber, formatQuality } from "../../format";
import { useQuery } from "../../hooks";

export function StatsCards() {
  const { data, error, reload } = useQuery(STATS);
  if (error) return <ErrorNotice error={error} onRetry={reload} />;
  if (!data) return <Loading label="Loading your statistics…" />;
  const stats = data.trainingStats;
  return (
    <div className="stat-grid three" data-testid="stats-cards">
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
    </div>
  );
}
