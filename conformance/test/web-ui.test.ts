/**
 * The web UI in a real headless Chromium (Debian's `chromium`, driven by `playwright-core`; no browser
 * download) against `plugboard up`, with an unmodified official-SDK device: sign in with the admin
 * token; the device is listed with its status and connection; its page charts exactly the telemetry
 * it sent, stored and then live; and axe-core finds no serious or critical accessibility violation on
 * any page. The device page's screenshot is written to `PLUGBOARD_SCREENSHOT_DIR` (default: a
 * temporary folder), and to `docs/images/` with `PLUGBOARD_UPDATE_SCREENSHOTS=1`.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import { chromium, type Browser, type Page } from 'playwright-core';
import { connectDevice, provisionDevice, startApp, type RunningApp } from './central-fixtures.js';
import { withTimeout } from './harness.js';

const { Message } = deviceSdk;
const THERMOSTAT = 'dtmi:com:example:Thermostat;1';
const DEVICE = 'ui-thermostat';
const CHROMIUM = process.env['PLUGBOARD_CHROMIUM'] ?? '/usr/bin/chromium';
const AXE_SOURCE = (createRequire(import.meta.url)('axe-core') as { source: string }).source;
const SCREENSHOTS =
  process.env['PLUGBOARD_UPDATE_SCREENSHOTS'] === '1'
    ? new URL('../../docs/images/', import.meta.url).pathname
    : (process.env['PLUGBOARD_SCREENSHOT_DIR'] ?? mkdtempSync(join(tmpdir(), 'plugboard-screenshots-')));

let app: RunningApp;
let browser: Browser;
let page: Page;
let client: InstanceType<typeof deviceSdk.Client>;
let temperature = 20;

async function sendTemperature(): Promise<void> {
  const message = new Message(JSON.stringify({ temperature: temperature++ }));
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  await withTimeout(client.sendEvent(message), 10_000, 'sendEvent');
}

/** axe-core's serious and critical violations on the page as it is now. */
async function accessibilityViolations(): Promise<string[]> {
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

before(async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does) or set PLUGBOARD_CHROMIUM`,
  );
  app = await startApp('web-ui');
  const group = app.manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices');
  assert.ok(group?.primaryKey);
  const registration = await provisionDevice(app.platform, DEVICE, group.primaryKey, { modelId: THERMOSTAT });
  client = await connectDevice(registration, group.primaryKey, THERMOSTAT);
  for (let i = 0; i < 12; i++) await sendTemperature();
  const { hostName, address } = app.manifest.central;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', `--host-resolver-rules=MAP ${hostName} ${address}`],
  });
  // The run's own CA signed the app's certificate; the browser does not know it.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 900 } });
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  await client?.close();
  await app?.dispose();
});

describe('[UI] the web UI in headless Chromium against plugboard up', () => {
  it('is served at ui.url and signs in with the admin API token, refusing a wrong one', async () => {
    const url = app.manifest.ui?.url;
    assert.ok(url, 'plugboard.json names ui.url');
    await page.goto(url);
    await page.getByLabel('API token').fill('SharedAccessSignature sr=wrong&sig=wrong&skn=wrong&se=1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /refused/);
    assert.deepEqual(await accessibilityViolations(), []);
    await page.getByLabel('API token').fill(app.manifest.api.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Devices' }).waitFor();
  });

  it('lists the device with its status, template and connection', async () => {
    const row = page.locator(`tr[data-device-id="${DEVICE}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.status').textContent(), 'provisioned');
    assert.equal(await row.locator('.connection').textContent(), 'Connected');
    assert.match((await row.textContent()) ?? '', /Thermostat/);
    assert.deepEqual(await accessibilityViolations(), []);
  });

  it('charts exactly the telemetry the device sent, stored and then live', async () => {
    await page.getByRole('link', { name: DEVICE }).click();
    await page.getByRole('heading', { name: DEVICE }).waitFor();
    const chart = page.locator('.chart-plot').first();
    await page.waitForSelector('.chart-plot[data-points="12"]', { timeout: 10_000 });
    for (let i = 0; i < 3; i++) await sendTemperature();
    await page.waitForSelector('.chart-plot[data-points="15"]', { timeout: 10_000 });
    assert.match((await page.locator('figure.chart figcaption').first().textContent()) ?? '', /last 34/);
    // uPlot drew onto its canvas: one series of 15 x/y values.
    assert.equal(await chart.locator('canvas').count(), 1);
    assert.deepEqual(await accessibilityViolations(), []);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'device-page.png'), fullPage: true });
  });
});
