import type { SessionRecordFragment } from "../api/generated/graphql";
import { formatCost, formatQuality, formatTokens } from "../format";
import { Empty } from "./feedback";
import { averageQualityColumn, ModelTable, winsColumn, type ModelColumn } from "./ModelTable";

type Performance = SessionRecordFragment["modelPerformance"][number];

function columns(totalWins: number): ModelColumn<Performance>[] {
  return [
    winsColumn,
    {
      label: "Share",
      className: "share-column",
      cell: (entry) => (
        <span className="share-bar" style={{ width: `${totalWins ? (entry.wins / totalWins) * 100 : 0}%` }} />
      ),
    },
    averageQualityColumn,
    {
      label: "Total quality",
      className: "number",
      cell: (entry) => (entry.wins ? formatQuality(entry.totalQuality) : "—"),
    },
    {
      label: "Tokens",
      className: "number",
      cell: (entry) => formatTokens(entry.promptTokens, entry.completionTokens),
    },
    { label: "Cost", className: "number", cell: (entry) => formatCost(entry.costUsd) },
  ];
}

/** A session's models, most wins first, with each one's share of the wins. */
export function ModelBreakdown({ performance }: { performance: readonly Performance[] }) {
  if (performance.length === 0) return <Empty>No model won an example.</Empty>;
  const totalWins = performance.reduce((sum, entry) => sum + entry.wins, 0);
  const ranked = [...performance].sort((a, b) => b.wins - a.wins || b.averageQuality - a.averageQuality);
  return (
    <ModelTable rows={ranked} columns={columns(totalWins)} testId="model-breakdown" rowTestId="model-row" />
  );
}
