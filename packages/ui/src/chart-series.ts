/**
 * A chart's values as columns — what `GET /plugboard/devices/{id}/telemetry/{name}/series` answers and
 * uPlot draws without copying: displayed times (ms), values, and the enqueued and creation times each
 * value carries (ms; creation `null` where the device set none). Pages are joined, ordered by displayed
 * time (a device's creation times need not follow the order it sent in), live values appended in
 * place of rebuilding, and the oldest dropped past a bound. Pure: each function returns a new series.
 */

/** A capability's values as columns. */
export interface ChartSeries {
  readonly time: number[];
  readonly value: (number | null)[];
  readonly enqueuedTime: number[];
  readonly creationTime: (number | null)[];
}

/** A page of the series route's answer. */
export interface SeriesPage {
  time: number[];
  value: unknown[];
  enqueuedTime: number[];
  creationTime: (number | null)[];
  next?: number;
}

/** A series with no values. */
export const EMPTY_SERIES: ChartSeries = { time: [], value: [], enqueuedTime: [], creationTime: [] };

/** A value a chart can draw, or `null` (a gap) for anything else. */
const drawable = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null;

/**
 * The pages joined, in displayed-time order (stable: equal times keep the order they came in).
 *
 * @example
 * joinPages([{ time: [2000, 1000], value: [2, 1], enqueuedTime: [2000, 1000], creationTime: [null, null] }]).value;
 * // [1, 2]
 */
export function joinPages(pages: readonly SeriesPage[]): ChartSeries {
  const time = pages.flatMap((p) => p.time);
  const value = pages.flatMap((p) => p.value.map(drawable));
  const enqueuedTime = pages.flatMap((p) => p.enqueuedTime);
  const creationTime = pages.flatMap((p) => p.creationTime);
  let ordered = true;
  for (let i = 1; i < time.length && ordered; i++) ordered = (time[i - 1] as number) <= (time[i] as number);
  if (ordered) return { time, value, enqueuedTime, creationTime };
  const order = time.map((_, i) => i).sort((a, b) => (time[a] as number) - (time[b] as number) || a - b);
  return {
    time: order.map((i) => time[i] as number),
    value: order.map((i) => value[i] ?? null),
    enqueuedTime: order.map((i) => enqueuedTime[i] as number),
    creationTime: order.map((i) => creationTime[i] ?? null),
  };
}

/**
 * `series` with one more value at its displayed time, keeping at most `max` (the oldest go).
 *
 * @example
 * appendValue(EMPTY_SERIES, { time: 1000, value: 21, enqueuedTime: 1005, creationTime: 1000 }, 100_000).time; // [1000]
 */
export function appendValue(
  series: ChartSeries,
  point: { time: number; value: number; enqueuedTime: number; creationTime: number | null },
  max: number,
): ChartSeries {
  // Where it goes: after every value at or before its time (almost always the end).
  let at = series.time.length;
  while (at > 0 && (series.time[at - 1] as number) > point.time) at--;
  const drop = Math.max(0, series.time.length + 1 - max);
  const insert = <T>(column: readonly T[], item: T): T[] => {
    const out = column.slice(drop, at);
    out.push(item);
    for (let i = Math.max(at, drop); i < column.length; i++) out.push(column[i] as T);
    return out;
  };
  return {
    time: insert(series.time, point.time),
    value: insert(series.value, point.value),
    enqueuedTime: insert(series.enqueuedTime, point.enqueuedTime),
    creationTime: insert(series.creationTime, point.creationTime),
  };
}

/**
 * `older` followed by the values of `newer` after its last time (live values that came while the
 * stored ones loaded).
 *
 * @example
 * after(stored, live); // stored, then the live values newer than its last one
 */
export function after(older: ChartSeries, newer: ChartSeries): ChartSeries {
  const last = older.time.at(-1) ?? -Infinity;
  const from = newer.time.findIndex((t) => t > last);
  if (from < 0) return older;
  return {
    time: [...older.time, ...newer.time.slice(from)],
    value: [...older.value, ...newer.value.slice(from)],
    enqueuedTime: [...older.enqueuedTime, ...newer.enqueuedTime.slice(from)],
    creationTime: [...older.creationTime, ...newer.creationTime.slice(from)],
  };
}
