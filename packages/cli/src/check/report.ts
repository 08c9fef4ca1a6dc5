/**
 * How a `device check` run is written: a scorecard for the terminal (one line per rule with its
 * verdict and why), the whole run as JSON (every verdict with its evidence), and JUnit XML for CI
 * (one test case per rule; a failure carries the summary and the evidence).
 */
import type { Verdict } from './rule.js';

/** A finished run. */
export interface CheckReport {
  deviceId: string;
  startedAt: string;
  durationMs: number;
  passed: number;
  failed: number;
  skipped: number;
  results: ({ id: string; title: string; durationMs: number } & Verdict)[];
}

const MARK = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const;

/** The terminal scorecard. */
export function scorecard(report: CheckReport): string {
  const width = Math.max(...report.results.map((r) => r.id.length), 10);
  const lines = [`device check: ${report.deviceId}`, ''];
  for (const r of report.results) lines.push(`  ${MARK[r.status]}  ${r.id.padEnd(width)}  ${r.summary}`);
  lines.push(
    '',
    `${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped in ${(report.durationMs / 1000).toFixed(1)} s`,
  );
  return lines.join('\n');
}

/** Whether a UTF-16 code unit may stand in XML 1.0 text (tab, newline, return, and from space up). */
function xmlChar(char: string): boolean {
  const code = char.charCodeAt(0);
  return code === 0x09 || code === 0x0a || code === 0x0d || code >= 0x20;
}

function xml(text: string): string {
  return [...text]
    .filter(xmlChar)
    .join('')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** JUnit XML: one `testsuite` named after the device, one `testcase` per rule. */
export function junit(report: CheckReport): string {
  const cases = report.results.map((r) => {
    const head = `    <testcase classname="plugboard.device-check" name="${xml(r.id)}" time="${(r.durationMs / 1000).toFixed(3)}">`;
    const evidence = xml(JSON.stringify(r.evidence, null, 2));
    if (r.status === 'fail') {
      return `${head}\n      <failure message="${xml(r.summary)}">${evidence}</failure>\n    </testcase>`;
    }
    if (r.status === 'skip') return `${head}\n      <skipped message="${xml(r.summary)}"/>\n    </testcase>`;
    return `${head}\n      <system-out>${xml(r.summary)}</system-out>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites tests="${report.results.length}" failures="${report.failed}" skipped="${report.skipped}">`,
    `  <testsuite name="device ${xml(report.deviceId)}" tests="${report.results.length}" failures="${report.failed}" skipped="${report.skipped}" timestamp="${report.startedAt}" time="${(report.durationMs / 1000).toFixed(3)}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
