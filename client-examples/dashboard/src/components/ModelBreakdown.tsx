import type { SessionRecordFragment } from "../api/generated/graphql";
import { formatQuality } from "../format";
import { Empty } from "./feedback";

type ModelPerformance = SessionRecordFragment["modelPerformance"][number];

export function ModelBreakdown({ performance }: { performance: readonly ModelPerformance[] }) {
  if (performance.length === 0) return <Empty>No model won an example.</Empty>;
  const totalWins = performance.reduce((sum, entry) => sum + entry.wins, 0);
  const ranked = [...performance].sort((a, b) => b.wins - a.wins || b.averageQuality - a.averageQuality);
  return (
    <table className="table compact" data-testid="model-breakdown">
      <thead>
        <tr>
          <th scope="col">Model</th>
          <th scope="col" className="number">
            Wins
          </th>
          <th scope="col" className="share-column">
            Share
          </th>
          <th scope="col" className="number">
            Avg quality
          </th>
          <th scope="col" className="number">
            Total quality
          </th>
        </tr>
      </thead>
      <tbody>
        {ranked.map((entry) => (
          <tr key={entry.model} data-testid="model-row" data-model={entry.model}>
            <td data-label="Model">{entry.model}</td>
            <td data-label="Wins" className="number">
              {entry.wins}
            </td>
            <td data-label="Share" className="share-column">
              <span
                className="share-bar"
                style={{ width: `${totalWins ? (entry.wins / totalWins) * 100 : 0}%` }}
              />
            </td>
            <td data-label="Avg quality" className="number">
              {entry.wins ? formatQuality(entry.averageQuality) : "—"}
            </td>
            <td data-label="Total quality" className="number">
              {entry.wins ? formatQuality(entry.totalQuality) : "—"}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
