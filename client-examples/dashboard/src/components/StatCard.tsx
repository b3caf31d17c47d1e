import type { ReactNode } from "react";

interface Props {
  label: string;
  value: string;
  detail?: ReactNode;
  testId: string;
  rawValue?: number | null;
}

export function StatCard({ label, value, detail, testId, rawValue }: Props) {
  return (
    <section className="stat-card" data-testid={testId} data-value={rawValue ?? ""}>
      <h3>{label}</h3>
      <p className="stat-value">{value}</p>
      {detail && <p className="stat-detail">{detail}</p>}
    </section>
  );
}
