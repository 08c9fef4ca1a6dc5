/**
 * Managing the application from the web UI, in a real headless Chromium against `plugboard up`:
 * templates imported from a picked and a dropped DTDL file (a bad file refused with the reason, nothing
 * stored), each template's capabilities per component with unit symbols, its export equal to what the
 * API answers; a device created from the form (a bad id refused in the form first), its connect view
 * with the derived key, and the two code snippets copied from the page run unmodified in Node — the
 * official SDK's and `@plugboard/device`'s — each delivering a message; block, unblock, a fault injected
 * for the device that its next connection meets, approve (auto-approve off) and delete from the device
 * page; a hub added and removed; and an operator's token offered no template import and no hub changes.
 * axe-core finds no serious or critical violation on any of these pages.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deriveDeviceKey } from '@plugboard/protocol';
import { CENTRAL_ROLES } from '@plugboard/server';
import type { Browser, Page } from 'playwright-core';
import { provisionDevice, startApp, type RunningApp } from './central-fixtures.js';
import { accessibilityViolations, launchChromium } from './ui-browser.js';

const NODE_MODULES = new URL('../../node_modules', import.meta.url).pathname;
const CONTEXT = 'dtmi:dtdl:context;2';
const SENSOR = {
  '@context': CONTEXT,
  '@id': 'dtmi:plugboard:ui:Sensor;1',
  '@type': 'Interface',
  displayName: 'Sensor',
  contents: [
    { '@type': ['Telemetry', 'Temperature'], name: 'temperature', schema: 'double', unit: 'degreeCelsius' },
    { '@type': 'Property', name: 'interval', schema: 'integer', writable: true },
  ],
};
const CONTROLLER = {
  '@context': CONTEXT,
  '@id': 'dtmi:plugboard:ui:Controller;1',
  '@type': 'Interface',
  displayName: 'UI Controller',
  contents: [
    { '@type': 'Component', name: 'sensor1', schema: SENSOR['@id'] },
    { '@type': 'Command', name: 'reboot', request: { name: 'delay', schema: 'integer' } },
  ],
};
const METER = {
  '@context': CONTEXT,
  '@id': 'dtmi:plugboard:ui:Meter;1',
  '@type': 'Interface',
  displayName: 'Meter',
  contents: [{ '@type': ['Telemetry', 'Power'], name: 'power', schema: 'double', unit: 'kilowatt' }],
};

let app: RunningApp;
let browser: Browser;
let page: Page;
let work: string;

async function openPage(token: string): Promise<Page> {
  const url = app.manifest.ui?.url;
  assert.ok(url, 'plugboard.json names ui.url');
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 900 } });
  const opened = await context.newPage();
  await opened.goto(`${url}#token=${encodeURIComponent(token)}`);
  await opened.getByRole('heading', { name: 'Devices' }).waitFor();
  return opened;
}

/** Runs a file with Node in `work` (which has the repository's packages and the app's CA), as a user would. */
function runNode(file: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], {
      cwd: work,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(work, '.plugboard', 'tls', 'ca.pem') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function deviceExists(id: string): boolean {
  try {
    app.platform.central.devices.get(id);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  app = await startApp('web-ui-manage');
  work = mkdtempSync(join(tmpdir(), 'plugboard-snippets-'));
  symlinkSync(NODE_MODULES, join(work, 'node_modules'));
  mkdirSync(join(work, '.plugboard', 'tls'), { recursive: true });
  copyFileSync(join(app.dataDir, 'tls', 'ca.pem'), join(work, '.plugboard', 'tls', 'ca.pem'));
  browser = await launchChromium(app);
  page = await openPage(app.manifest.api.token);
});

after(async () => {
  await browser?.close();
  await app?.dispose();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('[UI] managing templates and devices in headless Chromium', () => {
  it('says who is signed in, with the role', async () => {
    assert.match((await page.locator('header .signed-in').textContent()) ?? '', /\(admin\)/);
  });

  it('imports a picked model with its component and a dropped interface; a bad file is refused with the reason', async () => {
    await page.getByRole('link', { name: 'Templates', exact: true }).click();
    await page.getByRole('heading', { name: 'Device templates' }).waitFor();
    const before = app.platform.central.templates.list({}).templates.length;
    const picker = page.getByLabel(/Import a DTDL file/);
    await picker.setInputFiles({
      name: 'broken.json',
      mimeType: 'application/json',
      buffer: Buffer.from('{"@id": "dtmi:plugboard:ui:Broken;1", '),
    });
    await page.getByRole('alert').waitFor();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /broken\.json: The file is not JSON/);
    // A model the server refuses (a telemetry without a schema): its reason is shown, nothing stored.
    const invalid = { ...METER, '@id': 'dtmi:plugboard:ui:Invalid;1', contents: [{ '@type': 'Telemetry', name: 'x' }] };
    await picker.setInputFiles({
      name: 'invalid.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(invalid)),
    });
    await page
      .getByRole('alert')
      .filter({ hasText: /schema/i })
      .waitFor();
    assert.equal(app.platform.central.templates.list({}).templates.length, before, 'nothing was stored');

    await picker.setInputFiles({
      name: 'controller.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify([SENSOR, CONTROLLER])),
    });
    await page.getByRole('status').filter({ hasText: 'Imported UI Controller' }).waitFor();
    await page.locator(`tr[data-template-id="${CONTROLLER['@id']}"]`).waitFor();
    const stored = app.platform.central.templates.get(CONTROLLER['@id']);
    assert.equal(stored.modelId, CONTROLLER['@id']);

    // Dropped on the page, as a file dragged from the desktop.
    // (A string, evaluated in the page: DataTransfer and File are the browser's.)
    const dropped = await page.evaluateHandle(
      `(() => { const t = new DataTransfer(); t.items.add(new File([${JSON.stringify(JSON.stringify(METER))}], 'meter.json', { type: 'application/json' })); return t; })()`,
    );
    await page.dispatchEvent('.drop-zone', 'drop', { dataTransfer: dropped });
    await page.locator(`tr[data-template-id="${METER['@id']}"]`).waitFor();
    assert.equal(app.platform.central.templates.get(METER['@id']).modelId, METER['@id']);
    assert.deepEqual(await accessibilityViolations(page), []);
  });

  it("shows a template's capabilities per component with unit symbols, and exports what the API answers", async () => {
    await page.locator(`tr[data-template-id="${CONTROLLER['@id']}"] a`).click();
    await page.getByRole('heading', { name: 'UI Controller', level: 1 }).waitFor();
    const root = page.locator('section.component[data-component=""]');
    assert.match((await root.locator('tr[data-capability="reboot"]').textContent()) ?? '', /Command.*integer/);
    const sensor = page.locator('section.component[data-component="sensor1"]');
    const temperature = sensor.locator('tr[data-capability="temperature"]');
    assert.match((await temperature.textContent()) ?? '', /Telemetry.*double.*°C/);
    assert.equal(await temperature.locator('abbr').getAttribute('title'), 'degreeCelsius');
    assert.match(
      (await sensor.locator('tr[data-capability="interval"]').textContent()) ?? '',
      /Property.*integer.*Yes/,
    );
    assert.deepEqual(await accessibilityViolations(page), []);

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export UI Controller' }).click();
    const file = await (await download).path();
    const exported = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const answer = app.platform.central.templates.view(app.platform.central.templates.get(CONTROLLER['@id']));
    assert.deepEqual(exported, JSON.parse(JSON.stringify(answer)));
  });

  it('creates a device from the form (a bad id refused first) and shows its key and code that connect as they are', async () => {
    await page.getByRole('link', { name: 'Devices', exact: true }).click();
    await page.getByRole('button', { name: 'New device' }).click();
    const form = page.getByRole('form', { name: 'New device' });
    await form.getByLabel('Device id').fill('bad id');
    await form.getByRole('button', { name: 'Create device' }).click();
    await form.locator('#device-id-problem').waitFor();
    assert.match((await form.locator('#device-id-problem').textContent()) ?? '', /letters, digits/);
    assert.equal(deviceExists('bad id'), false);
    assert.deepEqual(await accessibilityViolations(page), []);

    await form.getByLabel('Device id').fill('ui-created');
    await form.getByLabel('Display name').fill('Created in the UI');
    await form.getByLabel('Template').selectOption({ label: 'UI Controller' });
    await form.getByRole('button', { name: 'Create device' }).click();
    await page.getByRole('heading', { name: 'Connect' }).waitFor();
    const created = app.platform.central.devices.get('ui-created');
    assert.equal(created.displayName, 'Created in the UI');
    assert.equal(created.template, CONTROLLER['@id']);

    const group = app.manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices');
    assert.ok(group?.primaryKey);
    const key = await deriveDeviceKey(group.primaryKey, 'ui-created');
    const primary = page.locator('table.credentials tr').filter({ hasText: 'Primary key' });
    assert.equal(await primary.locator('code').textContent(), key);
    assert.deepEqual(await accessibilityViolations(page), []);

    const official = await page.locator('section.snippet[aria-label^="The official"] pre').textContent();
    const plugboard = await page.locator('section.snippet[aria-label="@plugboard/device"] pre').textContent();
    assert.ok(official && plugboard);
    writeFileSync(join(work, 'device.cjs'), official);
    writeFileSync(join(work, 'device.mjs'), plugboard);
    const first = await runNode('device.cjs');
    assert.equal(first.code, 0, first.output);
    assert.match(first.output, /sent to /);
    const second = await runNode('device.mjs');
    assert.equal(second.code, 0, second.output);
    assert.match(second.output, /sent/);
    const raw = await app.platform.central.telemetry.raw('ui-created', { top: 10 });
    assert.equal(raw.messages.length, 2, 'each snippet delivered its message');
  });

  it('blocks and unblocks a device from its page', async () => {
    await page.getByRole('button', { name: 'Block', exact: true }).click();
    await page.locator('dd.status', { hasText: 'blocked' }).waitFor();
    assert.equal(app.platform.central.devices.get('ui-created').enabled, false);
    assert.deepEqual(await accessibilityViolations(page), []);
    await page.getByRole('button', { name: 'Unblock', exact: true }).click();
    await page.locator('dd.status', { hasText: 'provisioned' }).waitFor();
    assert.equal(app.platform.central.devices.get('ui-created').enabled, true);
  });

  it("injects a fault for the device (bad input refused first, the server's refusal shown) that its next connection meets", async () => {
    await page.getByRole('link', { name: 'Faults', exact: true }).click();
    await page.getByRole('heading', { name: 'Faults' }).waitFor();
    await page.getByText('No faults for this device.').waitFor();
    const form = page.getByRole('form', { name: 'Inject a fault' });
    await form.getByLabel('Condition').selectOption('tokenExpired');
    await form.getByLabel('Attempts').fill('one');
    await form.getByRole('button', { name: 'Inject fault' }).click();
    await page.getByRole('alert').filter({ hasText: 'Attempts must be a whole number.' }).waitFor();
    await form.getByLabel('Attempts').fill('0');
    await form.getByRole('button', { name: 'Inject fault' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /attempts must be a whole number above 0/ })
      .waitFor();
    assert.equal(app.platform.central.faults.list().length, 0, 'nothing was injected');
    assert.deepEqual(await accessibilityViolations(page), []);

    await form.getByLabel('Attempts').fill('1');
    await form.getByRole('button', { name: 'Inject fault' }).click();
    const row = page.locator('table.faults tbody tr').first();
    await row.locator('.state', { hasText: 'Active' }).waitFor();
    const [fault] = app.platform.central.faults.list();
    assert.equal(fault?.deviceId, 'ui-created');
    assert.equal(fault?.condition, 'tokenExpired');
    // The device connects again: its first attempt is refused (CONNACK 5), it provisions again and gets in.
    const run = await runNode('device.mjs');
    assert.equal(run.code, 0, run.output);
    await row.locator('.state', { hasText: 'Ended' }).waitFor();
    assert.equal(await row.locator('.matched').textContent(), '1');
    assert.deepEqual(await accessibilityViolations(page), []);

    // An active fault ends from its button.
    await form.getByLabel('Attempts').fill('');
    await form.getByRole('button', { name: 'Inject fault' }).click();
    await page.getByRole('button', { name: 'Remove the tokenExpired fault' }).click();
    await page.locator('table.faults .state', { hasText: 'Active' }).waitFor({ state: 'detached' });
    assert.equal(app.platform.central.faults.list().filter((f) => f.endedAt === undefined).length, 0);
  });

  it('adds a hub and removes it after confirming, as an administrator', async () => {
    await page.getByRole('link', { name: 'Application', exact: true }).click();
    await page.getByRole('heading', { name: 'Internal hubs' }).waitFor();
    const before = app.platform.central.hubs.list().length;
    await page.getByRole('button', { name: 'Add a hub' }).click();
    const added = page.getByRole('status').filter({ hasText: /^Added / });
    await added.waitFor();
    const name = /^Added (\S+)/.exec((await added.textContent()) ?? '')?.[1];
    assert.ok(name);
    assert.equal(app.platform.central.hubs.list().length, before + 1);
    await page.locator(`tr[data-hub="${name}"]`).waitFor();
    await page.getByRole('button', { name: `Remove ${name}`, exact: true }).click();
    const question = page.getByRole('alertdialog');
    await question.getByLabel('Drain seconds').fill('0');
    assert.deepEqual(await accessibilityViolations(page), []);
    await question.getByRole('button', { name: `Remove ${name}` }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Removing ${name}` })
      .waitFor();
    const left = app.platform.central.hubs.list().find((h) => h.name === name);
    assert.ok(left === undefined || left.state === 'draining', `${name} is draining or gone`);
  });

  it('approves a device waiting for approval, and deletes one after confirming', async () => {
    app.platform.central.devices.settings.autoApprove = false;
    const group = app.manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices');
    assert.ok(group?.primaryKey);
    await assert.rejects(provisionDevice(app.platform, 'ui-waiting', group.primaryKey));
    app.platform.central.devices.settings.autoApprove = true;
    await page.goto(`${app.manifest.ui?.url ?? ''}#/devices/ui-waiting`);
    await page.locator('dd.status', { hasText: 'waitingForApproval' }).waitFor();
    await page.getByRole('button', { name: 'Approve', exact: true }).click();
    await page.getByRole('button', { name: 'Block', exact: true }).waitFor();
    assert.equal(app.platform.central.devices.get('ui-waiting').enabled, true);

    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const question = page.getByRole('alertdialog');
    await question.waitFor();
    assert.deepEqual(await accessibilityViolations(page), []);
    await question.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(deviceExists('ui-waiting'), true, 'cancel deletes nothing');
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete ui-waiting' }).click();
    await page.getByRole('heading', { name: 'Devices' }).waitFor();
    assert.equal(deviceExists('ui-waiting'), false);
  });

  it('offers an operator no template import, and still the device actions', async () => {
    const { token } = await app.platform.central.tokens.create('ui-operator', [{ role: CENTRAL_ROLES.operator }]);
    const operator = await openPage(token);
    assert.match((await operator.locator('header .signed-in').textContent()) ?? '', /ui-operator \(operator\)/);
    await operator.getByRole('link', { name: 'Templates', exact: true }).click();
    await operator.locator(`tr[data-template-id="${CONTROLLER['@id']}"]`).waitFor();
    assert.equal(await operator.locator('input[type=file]').count(), 0);
    assert.match((await operator.locator('main').textContent()) ?? '', /may not import or change templates/);
    assert.deepEqual(await accessibilityViolations(operator), []);
    await operator.getByRole('link', { name: 'Application', exact: true }).click();
    await operator.getByRole('heading', { name: 'Internal hubs' }).waitFor();
    assert.equal(
      await operator.getByRole('button', { name: 'Add a hub' }).count(),
      0,
      'only an administrator changes hubs',
    );
    await operator.goto(`${app.manifest.ui?.url ?? ''}#/devices/ui-created`);
    await operator.getByRole('button', { name: 'Block', exact: true }).waitFor();
    await operator.context().close();
  });
});
