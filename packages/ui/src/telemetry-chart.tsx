/**
 * One telemetry capability's chart: its values over time with uPlot (ADR 0023), the time axis in each
 * value's displayed time (the creation time when the device set one, else the enqueued time, as Central
 * shows it); hovering a point shows both times. The chart keeps its uPlot instance and only hands it
 * new columns (uPlot reads them as they are: times in ms), so a device sending ten messages a second
 * redraws without rebuilding, and a day of values draws without a copy. A `plugboard:chart-drawn`
 * performance mark (detail: `{title, points}`; the newest only) follows the first frame painted with
 * new values.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { ChartSeries } from './chart-series.js';

interface Props {
  title: string;
  unit?: string | undefined;
  series: ChartSeries;
}

const data = (series: ChartSeries): uPlot.AlignedData => [series.time, series.value];

const iso = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? 'not set' : new Date(ms).toISOString();

export function TelemetryChart({ title, unit, series }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const latest = useRef(series);
  const [hovered, setHovered] = useState<number | undefined>(undefined);
  latest.current = series;

  useEffect(() => {
    if (host.current === null) return undefined;
    const label = unit === undefined ? title : `${title} (${unit})`;
    const plot = new uPlot(
      {
        width: Math.max(320, host.current.clientWidth),
        height: 220,
        // The times are milliseconds.
        ms: 1,
        series: [{}, { label, stroke: '#0b5cad', width: 2, points: { size: 4 } }],
        axes: [{}, { label }],
        legend: { show: false },
        hooks: {
          setCursor: [
            (u) => {
              const index = u.cursor.idx;
              setHovered(index === null || index === undefined ? undefined : index);
            },
          ],
        },
      },
      data(series),
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
    chart.current?.setData(data(series));
    if (series.time.length === 0) return;
    // Once a frame with these values is painted, the page's timeline says so (bench/ui-load reads it);
    // only the newest mark is kept, so a live chart does not fill the timeline.
    const points = series.time.length;
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        performance.clearMarks('plugboard:chart-drawn');
        performance.mark('plugboard:chart-drawn', { detail: { title, points } });
      }),
    );
  }, [series, title]);

  const count = series.time.length;
  const lastValue = series.value[count - 1];
  const lastTime = series.time[count - 1];
  const shown = hovered === undefined || hovered >= count ? undefined : hovered;
  return (
    <figure class="chart" aria-label={`${title} over time`}>
      <figcaption>
        <strong>{title}</strong>
        {lastTime === undefined ? (
          <span> — no values yet</span>
        ) : (
          <span>
            {' '}
            — last {lastValue ?? '—'}
            {unit === undefined ? '' : ` ${unit}`} at {new Date(lastTime).toLocaleTimeString()}
          </span>
        )}
      </figcaption>
      <div ref={host} class="chart-plot" data-points={count} role="img" aria-label={`Chart of ${title}`} />
      <p class="chart-hover" aria-live="polite">
        {shown === undefined
          ? 'Hover a point to see its times.'
          : `${series.value[shown] ?? '—'}${unit === undefined ? '' : ` ${unit}`} — created ${iso(series.creationTime[shown])}, enqueued ${iso(series.enqueuedTime[shown])}`}
      </p>
    </figure>
  );
}
