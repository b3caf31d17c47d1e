import { GENRES } from "../../api/enums";
import type { Genre } from "../../api/generated/graphql";
import { genreLabel } from "../../format";

interface Props {
  selected: ReadonlySet<Genre>;
  onChange: (selected: Set<Genre>) => void;
}

export function GenreGrid({ selected, onChange }: Props) {
  function toggle(genre: Genre) {
    const next = new Set(selected);
    if (!next.delete(genre)) next.add(genre);
    onChange(next);
  }

  return (
    <fieldset className="field">
      <legend>
        Genres{" "}
        <span className="legend-note" data-testid="genre-summary">
          {selected.size === 0
            ? `none selected: balanced random over all ${GENRES.length}`
            : `${selected.size} selected`}
        </span>
        {selected.size > 0 && (
          <button type="button" className="button link small" onClick={() => onChange(new Set())}>
            Clear
          </button>
        )}
      </legend>
      <div className="genre-grid" data-testid="genre-grid">
        {GENRES.map((genre) => (
          <button
            key={genre}
            type="button"
            className={selected.has(genre) ? "chip selectable selected" : "chip selectable"}
            aria-pressed={selected.has(genre)}
            onClick={() => toggle(genre)}
            data-testid={`genre-${genre}`}
          >
            {genreLabel(genre)}
          </button>
        ))}
      </div>
    </fieldset>
  );
}
