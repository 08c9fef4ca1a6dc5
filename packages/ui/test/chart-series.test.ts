/**
 * A chart's columns: pages joined in displayed-time order (stable for equal times, non-numbers as
 * gaps), live values inserted at their time with the oldest dropped past the bound, and live values
 * that came while the stored ones loaded kept after them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { after, appendValue, EMPTY_SERIES, joinPages, type ChartSeries } from '../src/chart-series.js';

const page = (time: number[], value: unknown[] = time) => ({
  time,
  value,
  enqueuedTime: time.map((t) => t + 1),
  creationTime: time.map((t) => (t % 2 === 0 ? t : null)),
});

describe('chart series', () => {
  it('joins pages in time order, stable for equal times, with non-numbers as gaps', () => {
    const joined = joinPages([page([3000, 1000], [3, 'x']), page([2000, 1000], [2, 1.5])]);
    assert.deepEqual(joined.time, [1000, 1000, 2000, 3000]);
    assert.deepEqual(joined.value, [null, 1.5, 2, 3]);
    assert.deepEqual(joined.enqueuedTime, [1001, 1001, 2001, 3001]);
    assert.deepEqual(joined.creationTime, [1000, 1000, 2000, 3000]);
  });

  it('keeps every value and orders them, for any pages', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 1e6 }), { maxLength: 20 }), { maxLength: 5 }),
        (times) => {
          const joined = joinPages(times.map((t) => page(t)));
          const all = times.flat().sort((a, b) => a - b);
          assert.deepEqual(joined.time, all);
          assert.deepEqual(joined.value, all, 'each value stays with its time');
          assert.deepEqual(
            joined.enqueuedTime,
            all.map((t) => t + 1),
          );
        },
      ),
    );
  });

  it('appends a live value at its time and drops the oldest past the bound', () => {
    let series: ChartSeries = EMPTY_SERIES;
    for (const t of [1000, 3000, 2000, 4000]) {
      series = appendValue(series, { time: t, value: t / 1000, enqueuedTime: t + 5, creationTime: null }, 3);
    }
    assert.deepEqual(series.time, [2000, 3000, 4000]);
    assert.deepEqual(series.value, [2, 3, 4]);
    assert.deepEqual(series.enqueuedTime, [2005, 3005, 4005]);
    assert.equal(EMPTY_SERIES.time.length, 0, 'the input is not changed');
  });

  it('keeps the live values newer than the stored ones after them', () => {
    const stored = joinPages([page([1000, 2000])]);
    const live = joinPages([page([2000, 3000])]);
    assert.deepEqual(after(stored, live).time, [1000, 2000, 3000]);
    assert.equal(after(stored, EMPTY_SERIES), stored);
  });
});
