import type { TrainOptionsQuery } from "../../api/generated/graphql";

export type Teacher = TrainOptionsQuery["teachers"][number];

interface Props {
  teachers: readonly Teacher[];
  selected: ReadonlySet<string>;
  onChange: (selected: Set<string>) => void;
}

export function TeacherPicker({ teachers, selected, onChange }: Props) {
  function toggle(name: string) {
    const next = new Set(selected);
    if (!next.delete(name)) next.add(name);
    onChange(next);
  }

  return (
    <fieldset className="field">
      <legend>
        Teachers{" "}
        <span className="legend-note">
          {selected.size} of {teachers.length} writing
        </span>
      </legend>
      <ul className="teacher-list" data-testid="teachers">
        {teachers.map((teacher) => (
          <li key={teacher.name}>
            <label className={teacher.available ? "teacher" : "teacher unavailable"}>
              <input
                type="checkbox"
                checked={selected.has(teacher.name)}
                disabled={!teacher.available}
                onChange={() => toggle(teacher.name)}
                data-testid={`teacher-${teacher.name}`}
              />
              <span className="teacher-name">{teacher.name}</span>
              <span className="teacher-model">{teacher.model}</span>
              <span className="teacher-tags">
                {teacher.offline && (
                  <span className="tag" title="No language model: for demonstration only">
                    offline
                  </span>
                )}
                {!teacher.available && <span className="tag tag-warning">unavailable</span>}
                {teacher.averageLatencyMs != null && (
                  <span className="tag tag-muted">~{Math.round(teacher.averageLatencyMs)} ms</span>
                )}
              </span>
            </label>
          </li>
        ))}
      </ul>
      {teachers.some((teacher) => teacher.offline) && (
        <p className="hint" data-testid="offline-teachers-note">
          Offline teachers write without a language model, so that Chorus works with no network: their stories
          and scores are for demonstration only.
        </p>
      )}
    </fieldset>
  );
}
