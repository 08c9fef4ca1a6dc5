/**
 * The shape of a `device check` rule and of its verdict: pass, fail or skip, one line saying why, and
 * the evidence (what was sent, what came back, when) that a reader can verify the verdict from.
 */
import type { JsonRecord } from '../central-client.js';
import type { CheckContext } from './context.js';

/** A rule's outcome. */
export interface Verdict {
  status: 'pass' | 'fail' | 'skip';
  /** One line: what was seen. */
  summary: string;
  evidence: JsonRecord;
}

/** One rule of the document (device-implementation.md), checked against the live device. */
export interface Rule {
  /** Stable id, for `--checks` and `--skip` and the JUnit test name. */
  id: string;
  /** What the document asks of the device. */
  title: string;
  run(ctx: CheckContext): Promise<Verdict>;
}

/** Shorthands for verdicts. */
export const pass = (summary: string, evidence: JsonRecord = {}): Verdict => ({ status: 'pass', summary, evidence });
export const fail = (summary: string, evidence: JsonRecord = {}): Verdict => ({ status: 'fail', summary, evidence });
export const skip = (summary: string, evidence: JsonRecord = {}): Verdict => ({ status: 'skip', summary, evidence });
