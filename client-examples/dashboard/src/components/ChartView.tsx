import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type ChartType,
} from "chart.js";
import { useEffect, useRef } from "react";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  Legend,
);
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
Chart.defaults.color = "#4b5563";
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.animation = window.matchMedia("(prefers-reduced-motion: reduce)").matches
  ? false
  : { duration: 250 };

export const PALETTE = [
  "#6d4aff",
  "#0ea5e9",
  "#f59e0b",
  "#10b981",
  "#ef4444",
  "#8b5cf6",
  "#14b8a6",
  "#f97316",
];

interface Props<T extends ChartType> {
  config: ChartConfiguration<T>;
  label: string;
  height?: number;
  testId?: string;
}

export function ChartView<T extends ChartType>({ config, label, height = 260, testId }: Props<T>) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<T> | null>(null);
  const type = config.type;

  useEffect(() => {
    if (!canvas.current) return;
    chart.current = new Chart(canvas.current, { type, data: { datasets: [] } } as ChartConfiguration<T>);
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, [type]);

  useEffect(() => {
    const current = chart.current;
    if (!current) return;
    current.data = config.data;
    if (config.options) current.options = config.options;
    current.update();
  }, [config]);

  return (
    <div className="chart" style={{ height }} data-testid={testId}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}
