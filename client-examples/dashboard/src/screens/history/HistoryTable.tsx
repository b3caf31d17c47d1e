import { Fragment, useState } from "react";
import { HISTORY } from "../../api/documents";
import type { HistoryOrder, TrainingHistoryFilter } from "../../api/generated/graphql";
import { Empty, ErrorNotice, Loading } from "../../components/feedback";
import { StatusBadge } from "../../components/StatusBadge";
import { formatCost, formatDateTime, formatDuration, formatQualityRange, formatTokens } from "../../format";
import { useConnection } from "../../hooks";
import { navigate } from "../../route";
import { SessionDetails } from "./SessionDetails";

const PAGE_SIZE = 20;

interface Props {
  filter: TrainingHistoryFilter;
  filtered: boolean;
  orderBy: HistoryOrder;
  onOrderBy: (order: HistoryOrder) => void;
  focus: string | null;
}

function SortButton({
  label,
  active,
  arrow,
  onClick,
  testId,
}: {
  label: string;
  active: boolean;
  arrow: string;
  onClick: () => void;
  testId: string;
}) {
  return (
    <button type="button" className={active ? "sort active" : "sort"} onClick={onClick} data-testid={testId}>
      {label} <span aria-hidden="true">{active ? arrow : "↕"}</span>
    </button>
  );
}

export function HistoryTable({ filter, filtered, orderBy, onOrderBy, focus }: Props) {
  const history = useConnection(
    HISTORY,
    { first: PAGE_SIZE, filter, orderBy },
    (data) => data.trainingHistory,
  );
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(() => new Set(focus ? [focus] : []));
  const [picked, setPicked] = useState<readonly string[]>([]);

  function toggleExpanded(sessionId: string) {
    const next = new Set(expanded);
    if (!next.delete(sessionId)) next.add(sessionId);
    setExpanded(next);
  }

  function togglePicked(sessionId: string) {
    setPicked(
      picked.includes(sessionId) ? picked.filter((id) => id !== sessionId) : [...picked.slice(-1), sessionId],
    );
  }

  const byDate = orderBy === "STARTED_AT_DESC" || orderBy === "STARTED_AT_ASC";
  if (history.error && history.nodes.length === 0)
    return <ErrorNotice error={history.error} onRetry={history.reload} />;
  if (history.loading && history.nodes.length === 0) return <Loading label="Loading the history…" />;
  const focused = focus && !history.nodes.some((session) => session.sessionId === focus) && (
    <section className="focused" data-testid="focused-session">
      <h3>
        Session <code>{focus}</code>
      </h3>
      <SessionDetails sessionId={focus} />
    </section>
  );
  if (history.nodes.length === 0) {
    return (
      <>
        {focused}
        <Empty>
          {filtered
            ? "No session matches these filters."
            : "No training sessions yet: start one on the Train screen."}
        </Empty>
      </>
    );
  }

  return (
    <>
      {focused}
      <div className="compare-bar">
        <span className="muted">
          {picked.length === 0
            ? "Tick two sessions to compare them."
            : `${picked.length} of 2 picked for comparison.`}
        </span>
        <button
          type="button"
          className="button small"
          disabled={picked.length !== 2}
          onClick={() => navigate("compare", { a: picked[0] ?? "", b: picked[1] ?? "" })}
          data-testid="compare-picked"
        >
          Compare
        </button>
      </div>
      <table
        className={history.loading ? "table history stale" : "table history"}
        data-testid="history-table"
      >
        <thead>
          <tr>
            <th scope="col" className="pick-column">
              <span className="visually-hidden">Compare</span>
            </th>
            <th
              scope="col"
              aria-sort={byDate ? (orderBy === "STARTED_AT_ASC" ? "ascending" : "descending") : "none"}
            >
              <SortButton
                label="Date"
                active={byDate}
                arrow={orderBy === "STARTED_AT_ASC" ? "↑" : "↓"}
                onClick={() =>
                  onOrderBy(orderBy === "STARTED_AT_DESC" ? "STARTED_AT_ASC" : "STARTED_AT_DESC")
                }
                testId="sort-date"
              />
            </th>
            <th scope="col" className="number">
              Examples
            </th>
            <th scope="col" aria-sort={orderBy === "AVERAGE_QUALITY_DESC" ? "descending" : "none"}>
              <SortButton
                label="Quality min – avg – max"
                active={orderBy === "AVERAGE_QUALITY_DESC"}
                arrow="↓"
                onClick={() => onOrderBy("AVERAGE_QUALITY_DESC")}
                testId="sort-quality"
              />
            </th>
            <th scope="col">Best model</th>
            <th scope="col" className="number">
              Duration
            </th>
            <th scope="col" className="number">
              Cost
            </th>
            <th scope="col">Status</th>
            <th scope="col">
              <span className="visually-hidden">Details</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {history.nodes.map((session) => {
            const open = expanded.has(session.sessionId);
            return (
              <Fragment key={session.sessionId}>
                <tr
                  className={open ? "open" : undefined}
                  data-testid="history-row"
                  data-session-id={session.sessionId}
                >
                  <td className="pick-column">
                    <input
                      type="checkbox"
                      aria-label={`Pick session ${session.sessionId} to compare`}
                      checked={picked.includes(session.sessionId)}
                      onChange={() => togglePicked(session.sessionId)}
                      data-testid="pick"
                    />
                  </td>
                  <td data-label="Date">{formatDateTime(session.startedAt)}</td>
                  <td data-label="Examples" className="number">
                    {session.numExamplesSuccessful}/{session.numExamplesRequested}
                  </td>
                  <td data-label="Quality" data-testid="row-quality">
                    {formatQualityRange(session.minQuality, session.averageQuality, session.maxQuality)}
                  </td>
                  <td data-label="Best model">{session.bestPerformingModel ?? "—"}</td>
                  <td data-label="Duration" className="number">
                    {formatDuration(session.totalTimeSeconds)}
                  </td>
                  <td
                    data-label="Cost"
                    className="number"
                    title={formatTokens(session.promptTokens, session.completionTokens)}
                    data-testid="row-cost"
                  >
                    {formatCost(session.costUsd)}
                  </td>
                  <td data-label="Status">
                    <StatusBadge status={session.status} />
                  </td>
                  <td className="expand-column">
                    <button
                      type="button"
                      className="button small ghost"
                      aria-expanded={open}
                      onClick={() => toggleExpanded(session.sessionId)}
                      data-testid="expand"
                    >
                      {open ? "Hide" : "Details"}
                    </button>
                  </td>
                </tr>
                {open && (
                  <tr className="details-row">
                    <td colSpan={9}>
                      <SessionDetails sessionId={session.sessionId} />
                    </td>
                  </tr>
                )}
              </Fragment>
            );
          })}
        </tbody>
      </table>
      <div className="table-footer">
        <span data-testid="history-count" data-total={history.totalCount} data-shown={history.nodes.length}>
          Showing {history.nodes.length} of {history.totalCount} session{history.totalCount === 1 ? "" : "s"}
        </span>
        {history.error && <ErrorNotice error={history.error} onRetry={history.loadMore} />}
        {history.hasNextPage && (
          <button
            type="button"
            className="button small"
            onClick={history.loadMore}
            disabled={history.loadingMore}
            data-testid="load-more"
          >
            {history.loadingMore ? "Loading…" : "Load more"}
          </button>
        )}
      </div>
    </>
  );
}
