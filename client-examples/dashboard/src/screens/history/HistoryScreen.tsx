import { useMemo, useState } from "react";
import type { HistoryOrder } from "../../api/generated/graphql";
import { useRoute } from "../../route";
import { ExportButtons } from "./ExportButtons";
import { isFiltered, NO_FILTER, toHistoryFilter } from "./filters";
import { HistoryFilters } from "./HistoryFilters";
import { HistoryTable } from "./HistoryTable";
import { StatsCards } from "./StatsCards";

export function HistoryScreen() {
  const { params } = useRoute();
  const [form, setForm] = useState(NO_FILTER);
  const [orderBy, setOrderBy] = useState<HistoryOrder>("STARTED_AT_DESC");
  const filter = useMemo(() => toHistoryFilter(form), [form]);

  return (
    <>
      <StatsCards />
      <section className="card">
        <div className="section-head">
          <h2>Training history</h2>
          <ExportButtons filter={filter} orderBy={orderBy} />
        </div>
        <HistoryFilters value={form} onChange={setForm} />
        <HistoryTable
          filter={filter}
          filtered={isFiltered(form)}
          orderBy={orderBy}
          onOrderBy={setOrderBy}
          focus={params.get("session")}
        />
      </section>
    </>
  );
}
