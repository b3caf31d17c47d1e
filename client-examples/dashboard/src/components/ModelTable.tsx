/**
 * The one table of figures per model: a session's breakdown, the leaderboard, two sessions side
 * by side and the teachers' outputs of an example. Each passes its rows and its columns; the
 * first column is always the model.
 */
import type { ReactNode } from "react";
import { formatQuality } from "../format";

export interface ModelColumn<Row> {
  label: string;
  cell: (row: Row) => ReactNode;
  /** `number` right-aligns the column; `share-column` holds a bar. */
  className?: "number" | "share-column";
}

interface Props<Row extends { model: string }> {
  rows: readonly Row[];
  columns: readonly ModelColumn<Row>[];
  /** The first column's heading: "Model" unless the rows are, say, teachers. */
  modelLabel?: string;
  testId?: string;
  rowTestId?: string;
}

export const winsColumn: ModelColumn<{ wins: number }> = {
  label: "Wins",
  className: "number",
  cell: (row) => row.wins,
};

/**
 * A model's quality is the mean of the examples it won, so it means nothing without a win: the API
 * answers 0.0 there, shown as a dash.
 */
export function winnersQuality(row: { wins: number; averageQuality: number } | undefined): string {
  return row?.wins ? formatQuality(row.averageQuality) : "—";
}

export const averageQualityColumn: ModelColumn<{ wins: number; averageQuality: number }> = {
  label: "Avg quality",
  className: "number",
  cell: winnersQuality,
};

export function ModelTable<Row extends { model: string }>({
  rows,
  columns,
  modelLabel = "Model",
  testId,
  rowTestId,
}: Props<Row>) {
  return (
    <table className="table compact" data-testid={testId}>
      <thead>
        <tr>
          <th scope="col">{modelLabel}</th>
          {columns.map((column) => (
            <th key={column.label} scope="col" className={column.className}>
              {column.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.model} data-testid={rowTestId} data-model={row.model}>
            <td data-label={modelLabel}>{row.model}</td>
            {columns.map((column) => (
              <td key={column.label} data-label={column.label} className={column.className}>
                {column.cell(row)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
