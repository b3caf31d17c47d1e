interface Props {
  value: number;
  max: number;
  label: string;
  testId?: string;
}

export function ProgressBar({ value, max, label, testId }: Props) {
  const fraction = max > 0 ? Math.min(1, value / max) : 0;
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={max}
      aria-valuenow={value}
      data-testid={testId}
    >
      <div className="progress-fill" style={{ width: `${fraction * 100}%` }} />
    </div>
  );
}
