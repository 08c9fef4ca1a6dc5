/**
 * What the web UI's browser tests share: Debian's Chromium (`PLUGBOARD_CHROMIUM` to point elsewhere),
 * launched by `playwright-core` with the app's host name mapped to its loopback address, and
 * axe-core's serious and critical accessibility violations on a page as it is now.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunningApp } from './central-fixtures.js';

const CHROMIUM = process.env['PLUGBOARD_CHROMIUM'] ?? '/usr/bin/chromium';
const AXE_SOURCE = (createRequire(import.meta.url)('axe-core') as { source: string }).source;

/** Chromium, resolving the app's host name to its address (no DNS is involved). */
export async function launchChromium(app: RunningApp): Promise<Browser> {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does) or set PLUGBOARD_CHROMIUM`,
  );
  const { hostName, address } = app.manifest.central;
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', `--host-resolver-rules=MAP ${hostName} ${address}`],
  });
}

/** axe-core's serious and critical violations on `page` as it is now, as `id: help` lines. */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: { run(): Promise<{ violations: { id: string; impact?: string; help: string }[] }> };
      }
    ).axe;
    const result = await axe.run();
    return result.violations.map((v) => ({ id: v.id, impact: v.impact ?? '', help: v.help }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`);
}
