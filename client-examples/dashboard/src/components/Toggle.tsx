interface Props {
  label: string;
  description: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
  tone?: "accent" | "success";
  testId: string;
}

export function Toggle({ label, description, checked, onChange, tone = "accent", testId }: Props) {
  return (
    <button
      type="button"
      role="switch"
      aria-checked={checked}
      className={`toggle toggle-${tone}${checked ? " on" : ""}`}
      onClick={() => onChange(!checked)}
      data-testid={testId}
    >
      <span className="toggle-track" aria-hidden="true">
        <span className="toggle-thumb" />
      </span>
      <span className="toggle-text">
        <strong>{label}</strong>
        <small>{description}</small>
      </span>
    </button>
  );
}
