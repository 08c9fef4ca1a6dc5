/**
 * The web UI in a real headless Chromium (Debian's `chromium`, driven by `playwright-core`; no browser
 * download) against `plugboard up`, with an unmodified official-SDK device: sign in with the admin
 * token; the device is listed with its status and connection; its page charts exactly the telemetry
 * it sent, stored and then live; its raw data shows an unmodeled value with the reason; a writable
 * property set in its form (bad input refused in the form first) reaches the device and turns
 * accepted; a command run from its form shows the device's response; the failover button moves a
 * high-availability device (as the samples write one) to the other hub and its timeline shows it
 * reprovisioning there, and failback brings it back; the application page shows the ID scope, the
 * group keys and the hubs; and axe-core finds no serious or critical accessibility violation on
 * any page. The device page's and the raw data's screenshots are written to `PLUGBOARD_SCREENSHOT_DIR` (default: a
 * temporary folder), and to `docs/images/` with `PLUGBOARD_UPDATE_SCREENSHOTS=1`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import type { Browser, Page } from 'playwright-core';
import { connectDevice, provisionDevice, startApp, type RunningApp } from './central-fixtures.js';
import { HighAvailabilityDevice } from './ha-device.js';
import { withTimeout, type TestPlatform } from './harness.js';
import { accessibilityViolations, launchChromium } from './ui-browser.js';

const { Message } = deviceSdk;
const THERMOSTAT = 'dtmi:com:example:Thermostat;1';
const DEVICE = 'ui-thermostat';
const SCREENSHOTS =
  process.env['PLUGBOARD_UPDATE_SCREENSHOTS'] === '1'
    ? new URL('../../docs/images/', import.meta.url).pathname
    : (process.env['PLUGBOARD_SCREENSHOT_DIR'] ?? mkdtempSync(join(tmpdir(), 'plugboard-screenshots-')));

let app: RunningApp;
let browser: Browser;
let page: Page;
let client: InstanceType<typeof deviceSdk.Client>;
let ha: HighAvailabilityDevice | undefined;
let temperature = 20;
/** Desired patches and method requests the device received. */
const desiredPatches: Record<string, unknown>[] = [];
const methodRequests: unknown[] = [];

async function sendTemperature(): Promise<void> {
  const message = new Message(JSON.stringify({ temperature: temperature++ }));
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  await withTimeout(client.sendEvent(message), 10_000, 'sendEvent');
}

/** The reason the REST API gives for the newest message's unmodeled `humidity`. */
async function fetchRawReason(): Promise<string> {
  const messages = await app.platform.central.telemetry.raw(DEVICE, { top: 1000 });
  const newest = messages.messages.at(-1);
  const humidity = newest?.unmodeled.find((u) => u.name === 'humidity');
  assert.ok(humidity, 'the API has humidity unmodeled');
  return humidity.reason;
}

before(async () => {
  app = await startApp('web-ui');
  const group = app.manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices');
  assert.ok(group?.primaryKey);
  const registration = await provisionDevice(app.platform, DEVICE, group.primaryKey, { modelId: THERMOSTAT });
  client = await connectDevice(registration, group.primaryKey, THERMOSTAT);
  // As the Thermostat sample: acknowledge each writable property, answer getMaxMinReport.
  const twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
  twin.on('properties.desired', (patch: Record<string, unknown>) => {
    if (!('targetTemperature' in patch)) return;
    desiredPatches.push(patch);
    const ack = {
      targetTemperature: {
        value: patch['targetTemperature'],
        ac: 200,
        av: patch['$version'],
        ad: 'set by the UI test',
      },
    };
    twin.properties.reported.update(ack, () => undefined);
  });
  client.onDeviceMethod('getMaxMinReport', (request, response) => {
    methodRequests.push(request.payload);
    response.send(200, { maxTemp: 34, minTemp: 20, avgTemp: 27, startTime: request.payload }, () => undefined);
  });
  for (let i = 0; i < 12; i++) await sendTemperature();
  browser = await launchChromium(app);
  // The run's own CA signed the app's certificate; the browser does not know it.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 900 } });
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  await ha?.stop();
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
    assert.deepEqual(await accessibilityViolations(page), []);
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
    assert.deepEqual(await accessibilityViolations(page), []);
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
    assert.deepEqual(await accessibilityViolations(page), []);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'device-page.png'), fullPage: true });
  });

  it('shows raw data with the modeled values, and an unmodeled value with its reason, live', async () => {
    await page.getByRole('link', { name: 'Raw data' }).click();
    await page.getByRole('heading', { name: 'Raw data' }).waitFor();
    await page.locator('table.raw tbody tr').nth(14).waitFor();
    assert.equal(await page.locator('table.raw tbody tr').count(), 15);
    const message = new Message(JSON.stringify({ temperature: 35, humidity: 40 }));
    message.contentType = 'application/json';
    message.contentEncoding = 'utf-8';
    const created = new Date(Date.now() - 1500).toISOString();
    message.properties.add('iothub-creation-time-utc', created);
    await withTimeout(client.sendEvent(message), 10_000, 'sendEvent');
    await page.locator('table.raw tbody tr').nth(15).waitFor();
    const newest = page.locator('table.raw tbody tr').first();
    assert.match((await newest.locator('.modeled').textContent()) ?? '', /temperature: 35/);
    // The creation time the device set is shown, and is the displayed time.
    assert.notEqual(await newest.locator('td').nth(2).textContent(), '—');
    assert.equal(await newest.locator('td').nth(0).textContent(), await newest.locator('td').nth(2).textContent());
    const unmodeled = (await newest.locator('.unmodeled').textContent()) ?? '';
    assert.match(unmodeled, /humidity: 40 — /);
    // The reason is the server's, as the REST API gives it.
    const raw = await fetchRawReason();
    assert.ok(unmodeled.includes(raw), `${unmodeled} names the reason "${raw}"`);
    assert.deepEqual(await accessibilityViolations(page), []);
    await page.screenshot({ path: join(SCREENSHOTS, 'raw-data.png'), fullPage: true });
  });

  it('sets a writable property from its schema form: bad input is refused in the form, good input reaches the device and syncs', async () => {
    await page.getByRole('link', { name: 'Properties' }).click();
    await page.getByRole('heading', { name: 'Properties' }).waitFor();
    const row = page.locator('tr[data-property="targetTemperature"]');
    await row.waitFor();
    assert.equal(
      await page.locator('tr[data-property="maxTempSinceLastReboot"] .sync-state').textContent(),
      'read-only',
    );
    const input = row.getByRole('textbox', { name: /Target Temperature/ });
    await input.fill('warm');
    await row.getByRole('button', { name: 'Set' }).click();
    await row.getByText('Target Temperature must be a number (double).').waitFor();
    assert.equal(await input.getAttribute('aria-invalid'), 'true');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(desiredPatches, [], 'nothing was sent for a refused value');
    await input.fill('25.5');
    await row.getByRole('button', { name: 'Set' }).click();
    await row.locator('.sync-state', { hasText: 'accepted' }).waitFor({ timeout: 10_000 });
    assert.equal(desiredPatches.length, 1);
    assert.equal(desiredPatches[0]?.['targetTemperature'], 25.5);
    assert.equal(await row.locator('.value').textContent(), '25.5');
    assert.deepEqual(await accessibilityViolations(page), []);
  });

  it('runs a command from its request form and shows the device response', async () => {
    await page.getByRole('link', { name: 'Commands' }).click();
    await page.getByRole('heading', { name: 'Commands' }).waitFor();
    const command = page.locator('section[data-command="getMaxMinReport"]');
    const since = command.getByRole('textbox', { name: /Since/ });
    await since.fill('yesterday');
    await command.getByRole('button', { name: 'Run' }).click();
    await command.getByText('Since must be a date and time (ISO 8601).').waitFor();
    assert.deepEqual(methodRequests, []);
    await since.fill('2026-12-01T00:00:00.000Z');
    await command.getByRole('button', { name: 'Run' }).click();
    await command.locator('.response-code', { hasText: '200' }).waitFor({ timeout: 15_000 });
    assert.deepEqual(methodRequests, ['2026-12-01T00:00:00.000Z']);
    assert.match((await command.locator('.response-body').textContent()) ?? '', /"maxTemp": 34/);
    assert.deepEqual(await accessibilityViolations(page), []);
  });

  it('fails a device over with the button: it reprovisions to the other hub, the timeline shows it; failback returns it', async () => {
    const group = app.manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices');
    assert.ok(group?.primaryKey);
    // The platform is all a HighAvailabilityDevice uses of a test platform (to provision).
    ha = new HighAvailabilityDevice(app.platform as TestPlatform, 'ui-ha-device', group.primaryKey);
    await ha.connect();
    const first = ha.hubs[0];
    await page.goto(`${app.manifest.ui?.url ?? ''}#/devices/ui-ha-device/timeline`);
    await page.getByRole('heading', { name: 'Timeline and failover' }).waitFor();
    await page.locator('.assigned-hub', { hasText: String(first) }).waitFor();
    await page.locator('table.timeline tr[data-kind="connected"]').first().waitFor();
    assert.equal(await page.locator('table.timeline tr[data-kind="provisioning"][data-outcome="assigned"]').count(), 1);
    await page.getByRole('button', { name: 'Fail over' }).click();
    await page.getByRole('status').waitFor();
    assert.match((await page.getByRole('status').textContent()) ?? '', /revert/);
    const moved = await ha.movedFrom(1);
    assert.notEqual(moved, first);
    // The device provisioned again and connected to the other hub; the view follows live.
    await page
      .locator('table.timeline tr[data-kind="provisioning"][data-outcome="assigned"]')
      .nth(1)
      .waitFor({ timeout: 15_000 });
    await page.locator('.assigned-hub', { hasText: moved }).waitFor({ timeout: 15_000 });
    await page.locator('.substatus', { hasText: 'deviceDataMigrated' }).waitFor();
    assert.deepEqual(await accessibilityViolations(page), []);
    await page.getByRole('button', { name: 'Fail back' }).click();
    assert.equal(await ha.movedFrom(2), first);
    await page.locator('.assigned-hub', { hasText: String(first) }).waitFor({ timeout: 15_000 });
  });

  it('shows the application: ID scope, enrollment group keys and the hubs with their devices', async () => {
    await page.getByRole('link', { name: 'Application' }).click();
    await page.getByRole('heading', { name: 'Application', level: 1 }).waitFor();
    assert.equal(await page.locator('code.id-scope').textContent(), app.manifest.idScope);
    const group = app.manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices');
    const row = page.locator('tr[data-group="SAS-IoT-Devices"]');
    assert.equal(await row.locator('code.key').first().textContent(), group?.primaryKey);
    assert.equal(await row.getByRole('button', { name: 'Copy SAS-IoT-Devices primary key' }).count(), 1);
    assert.equal(await page.locator('table.hubs tbody tr').count(), app.manifest.hubs.length);
    const registered = await page.locator('table.hubs td.devices').allTextContents();
    assert.equal(
      registered.reduce((n, t) => n + Number(t), 0),
      2,
      'both devices of the test are registered to a hub',
    );
    assert.deepEqual(await accessibilityViolations(page), []);
  });
});
