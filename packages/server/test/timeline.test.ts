import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarize, type TimelineEntry } from '../src/central/timeline.js';

/** Refused attempts at the given intervals (ms) after a first one. */
function refusals(intervals: readonly number[]): TimelineEntry[] {
  const entries: TimelineEntry[] = [{ sequence: 1, at: '', kind: 'refused', code: 'HUB_THROTTLED' }];
  intervals.forEach((ms, i) =>
    entries.push({ sequence: i + 2, at: '', kind: 'refused', code: 'HUB_THROTTLED', sincePreviousAttemptMs: ms }),
  );
  return entries;
}

describe('retry summary of a device timeline', () => {
  it('a tight loop is eager', () => {
    assert.equal(summarize(refusals([20, 22, 19, 25, 21, 20])).eager, true);
  });
  it('an exponential back-off is not, even with paired attempts or a fast start', () => {
    assert.equal(summarize(refusals([802, 13, 425, 17, 778, 36, 1469, 192])).eager, false);
    assert.equal(
      summarize(refusals([13, 99, 14, 103, 19, 146, 15, 137, 120, 251, 34, 784, 25, 663, 151])).eager,
      false,
    );
    assert.equal(summarize(refusals([100, 200, 400, 800, 1600, 3200])).eager, false);
  });
  it('retries that stay near 100 ms (a back-off whose jitter never lets it grow) are eager', () => {
    assert.equal(summarize(refusals([0, 99, 14, 103, 19, 96, 15, 97, 12, 101, 18, 95])).eager, true);
  });
  it('a steady retry every second or more, or too few retries to tell, is not', () => {
    assert.equal(summarize(refusals([1000, 1000, 1000, 1000, 1000, 1000])).eager, false);
    assert.equal(summarize(refusals([10, 10, 10])).eager, false);
  });
  it('counts attempts and refusals, and only intervals after a refusal', () => {
    const entries: TimelineEntry[] = [
      { sequence: 1, at: '', kind: 'provisioning', outcome: 'assigned' },
      { sequence: 2, at: '', kind: 'connected', sincePreviousAttemptMs: 50 },
      { sequence: 3, at: '', kind: 'disconnected' },
      { sequence: 4, at: '', kind: 'refused', code: 'HUB_INTERNAL', sincePreviousAttemptMs: 5000 },
      { sequence: 5, at: '', kind: 'connected', sincePreviousAttemptMs: 700 },
    ];
    const summary = summarize(entries);
    assert.deepEqual([summary.attempts, summary.refusals, summary.retryIntervalsMs], [4, 1, [700]]);
    assert.equal(summary.shortestRetryMs, 700);
  });
  it('a connection closed for throttling is a refusal, and the retry is timed from the close', () => {
    const at = (ms: number): string => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
    const entries: TimelineEntry[] = [{ sequence: 1, at: at(0), kind: 'connected' }];
    for (let i = 1; i <= 6; i++) {
      entries.push({ sequence: 2 * i, at: at(i * 100), kind: 'disconnected', reason: 'HUB_THROTTLE_BACKLOG_EXCEEDED' });
      entries.push({ sequence: 2 * i + 1, at: at(i * 100 + 15), kind: 'connected', sincePreviousAttemptMs: 100 });
    }
    const summary = summarize(entries);
    assert.equal(summary.refusals, 6);
    assert.deepEqual(summary.retryIntervalsMs, [15, 15, 15, 15, 15, 15]);
    assert.equal(summary.eager, true);
    const dropped = summarize(
      entries.map((e) => (e.kind === 'disconnected' ? { ...e, reason: 'HUB_SERVICE_UNAVAILABLE' } : e)),
    );
    assert.deepEqual([dropped.refusals, dropped.retryIntervalsMs], [0, []]);
  });
});
