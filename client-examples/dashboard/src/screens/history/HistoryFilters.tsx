import { GENRES, SESSION_STATUSES } from "../../api/enums";
import { genreLabel, statusLabel } from "../../format";
import { isFiltered, NO_FILTER, type FilterForm } from "./filters";

interface Props {
  value: FilterForm;
  onChange: (value: FilterForm) => void;
}

export function HistoryFilters({ value, onChange }: Props) {
  function set<K extends keyof FilterForm>(key: K, field: FilterForm[K]) {
    onChange({ ...value, [key]: field });
  }

  return (
    <form className="filters" onSubmit={(event) => event.preventDefault()} data-testid="history-filters">
      <label>
        From
        <input
          type="date"
          value={value.from}
          max={value.to || undefined}
          onChange={(e) => set("from", e.target.value)}
          data-testid="filter-from"
        />
      </label>
      <label>
        To
        <input
          type="date"
          value={value.to}
          min={value.from || undefined}
          onChange={(e) => set("to", e.target.value)}
          data-testid="filter-to"
        />
      </label>
      <label>
        Genre
        <select
          value={value.genre}
          onChange={(e) => set("genre", e.target.value as FilterForm["genre"])}
          data-testid="filter-genre"
        >
          <option value="">Any genre</option>
          {GENRES.map((genre) => (
            <option key={genre} value={genre}>
              {genreLabel(genre)}
            </option>
          ))}
        </select>
      </label>
      <label>
        Min avg quality
        <input
          type="number"
          min={0}
          max={10}
          step={0.1}
          inputMode="decimal"
          placeholder="any"
          value={value.minQuality}
          onChange={(e) => set("minQuality", e.target.value)}
          data-testid="filter-min-quality"
        />
      </label>
      <label>
        Status
        <select
          value={value.status}
          onChange={(e) => set("status", e.target.value as FilterForm["status"])}
          data-testid="filter-status"
        >
          <option value="">Any status</option>
          {SESSION_STATUSES.map((status) => (
            <option key={status} value={status}>
              {statusLabel(status)}
            </option>
          ))}
        </select>
      </label>
      <label>
        Fine-tuning
        <select
          value={value.fineTuning}
          onChange={(e) => set("fineTuning", e.target.value as FilterForm["fineTuning"])}
          data-testid="filter-fine-tuning"
        >
          <option value="">Any</option>
          <option value="yes">Triggered</option>
          <option value="no">Not triggered</option>
        </select>
      </label>
      {isFiltered(value) && (
        <button
          type="button"
          className="button link small"
          onClick={() => onChange(NO_FILTER)}
          data-testid="clear-filters"
        >
          Clear filters
        </button>
      )}
    </form>
  );
}
