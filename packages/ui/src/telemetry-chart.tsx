/**
 * One telemetry capability's chart: its values over time with uPlot (ADR 0023), the time axis in each
 * value's displayed time (the creation time when the device set one, else the enqueued time, as Central
 * shows it); hovering a point shows both times. The chart keeps its uPlot instance and only hands it
 * new data, so a device sending ten messages a second redraws without rebuilding.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** One value: when it is shown (ms), the value, and the two times it carries. */
export interface ChartPoint {
  at: number;
  value: number;
  enqueuedTime: string;
  creationTime?: string;
}

interface Props {
  title: string;
  unit?: string | undefined;
  points: readonly ChartPoint[];
}

function data(points: readonly ChartPoint[]): uPlot.AlignedData {
  return [points.map((p) => p.at / 1000), points.map((p) => p.value)];
}

export function TelemetryChart({ title, unit, points }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const latest = useRef(points);
  const [hovered, setHovered] = useState<ChartPoint | undefined>(undefined);
  latest.current = points;

  useEffect(() => {
    if (host.current === null) return undefined;
    const label = unit === undefined ? title : `${title} (${unit})`;
    const plot = new uPlot(
      {
        width: Math.max(320, host.current.clientWidth),
        height: 220,
        series: [{}, { label, stroke: '#0b5cad', width: 2, points: { show: true, size: 4 } }],
        axes: [{}, { label }],
        legend: { show: false },
        hooks: {
          setCursor: [
            (u) => {
              const index = u.cursor.idx;
              setHovered(index === null || index === undefined ? undefined : latest.current[index]);
            },
          ],
        },
      },
      data(points),
      host.current,
    );
    chart.current = plot;
    const resize = (): void => {
      if (host.current !== null) plot.setSize({ width: Math.max(320, host.current.clientWidth), height: 220 });
    };
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.destroy();
      chart.current = null;
    };
  }, [title, unit]);

  useEffect(() => {
    chart.current?.setData(data(points));
  }, [points]);

  const last = points.at(-1);
  return (
    <figure class="chart" aria-label={`${title} over time`}>
      <figcaption>
        <strong>{title}</strong>
        {last === undefined ? (
          <span> — no values yet</span>
        ) : (
          <span>
            {' '}
            — last {last.value}
            {unit === undefined ? '' : ` ${unit}`} at {new Date(last.at).toLocaleTimeString()}
          </span>
        )}
      </figcaption>
      <div ref={host} class="chart-plot" data-points={points.length} role="img" aria-label={`Chart of ${title}`} />
      <p class="chart-hover" aria-live="polite">
        {hovered === undefined
          ? 'Hover a point to see its times.'
          : `${hovered.value}${unit === undefined ? '' : ` ${unit}`} — created ${hovered.creationTime ?? 'not set'}, enqueued ${hovered.enqueuedTime}`}
      </p>
    </figure>
  );
}
