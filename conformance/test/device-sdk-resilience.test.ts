/**
 * `@plugboard/device` under the faults of device-implementation.md's "Handle connection failures", as the
 * device timeline (the server's view) and the SDK's own connection-state events show it: an unreachable
 * hub, an expired token and a disabled device send it back to DPS; an operator block, a 500 and
 * throttling get retries at growing, jittered intervals on the same hub and then a connection; and a
 * manual failover moves it to the other hub while it sends telemetry, with every acknowledged message
 * stored — none lost, counted sent against stored.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { PnpDevice, memoryAssignmentStore, type ConnectionStateChange } from '@plugboard/device';
import { sampleModel } from './central-fixtures.js';
import { centralRequest, eventually, startTestPlatform, type TestPlatform } from './harness.js';

const GROUP_KEY = 'cmVzaWxpZW5jZWdyb3Vwa2V5cmVzaWxpZW5jZWtleTE=';
const MODEL_ID = 'dtmi:com:example:Thermostat;1';
const DEVICE = 'sdk-resilient';

interface TimelineEntry {
  kind: string;
  outcome?: string;
  code?: string;
  hub?: string;
  sequence: number;
}
interface Timeline {
  value: TimelineEntry[];
  summary: { attempts: number; refusals: number; eager: boolean; retryIntervalsMs: number[] };
}

let platform: TestPlatform;
let device: PnpDevice;
const states: ConnectionStateChange[] = [];

async function timeline(after: number): Promise<Timeline> {
  const response = await centralRequest(platform, {
    method: 'GET',
    path: `/plugboard/devices/${DEVICE}/timeline?after=${after}`,
  });
  assert.equal(response.status, 200, response.text);
  return response.body as Timeline;
}

async function mark(): Promise<number> {
  return (await timeline(0)).value.at(-1)?.sequence ?? 0;
}

async function fault(body: Record<string, unknown>): Promise<void> {
  const response = await centralRequest(platform, {
    method: 'POST',
    path: '/plugboard/faults',
    body: { deviceId: DEVICE, ...body },
  });
  assert.equal(response.status, 201, response.text);
}

async function clearFaults(): Promise<void> {
  assert.equal((await centralRequest(platform, { method: 'DELETE', path: '/plugboard/faults' })).status, 200);
}

/** Connected again after `from` (the SDK's own state). */
async function reconnected(from: number): Promise<void> {
  await eventually(
    async () => (states.slice(from).some((s) => s.state === 'connected') ? true : undefined),
    30_000,
    'reconnected',
  );
}

before(async () => {
  platform = await startTestPlatform({ hubs: 2 });
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
  const imported = await centralRequest(platform, {
    method: 'PUT',
    path: `/api/deviceTemplates/${encodeURIComponent(MODEL_ID)}?api-version=2022-07-31`,
    body: { displayName: 'Thermostat', capabilityModel: sampleModel('Thermostat.json') },
  });
  assert.equal(imported.status, 200, imported.text);
  device = new PnpDevice({
    idScope: platform.dps.idScope,
    registrationId: DEVICE,
    credentials: { groupKey: GROUP_KEY },
    modelId: MODEL_ID,
    provisioningHost: platform.dps.hostName,
    ca: readFileSync(String(process.env['NODE_EXTRA_CA_CERTS']), 'utf8'),
    assignmentStore: memoryAssignmentStore(),
  });
  device.on('connectionState', (change) => states.push(change));
  await device.start();
});
after(async () => {
  await device?.close();
  await platform?.dispose();
});

describe('[Best practices: handle connection failures] @plugboard/device under injected faults', () => {
  for (const condition of ['unreachable', 'tokenExpired', 'deviceDisabled']) {
    it(`[Best practices: reprovision] ${condition}: goes back to DPS, then connects again`, async () => {
      const since = await mark();
      const from = states.length;
      await fault({ condition });
      const provisioning = await eventually(
        async () => (await timeline(since)).value.find((e) => e.kind === 'provisioning'),
        30_000,
        'a registration in the timeline',
      );
      assert.equal(provisioning.outcome, 'assigned');
      await clearFaults();
      await reconnected(from);
      const backOff = states.slice(from).find((s) => s.state === 'backingOff' && s.next === 'reprovision');
      assert.ok(backOff, `a reprovision decision among ${JSON.stringify(states.slice(from).map((s) => s.reason))}`);
    });
  }

  for (const condition of ['deviceBlocked', 'internalError', 'throttled']) {
    it(`[Best practices: back off] ${condition}: retries at growing, jittered intervals, then connects`, async () => {
      const since = await mark();
      const from = states.length;
      await fault({ condition });
      // Throttling refuses the next connect; a drop makes there be one.
      if (condition === 'throttled') await fault({ condition: 'drop', attempts: 1 });
      await eventually(
        async () => ((await timeline(since)).summary.retryIntervalsMs.length >= 5 ? true : undefined),
        30_000,
        'five retries',
      );
      await clearFaults();
      await reconnected(from);
      const { summary } = await timeline(since);
      assert.equal(summary.eager, false, `not a tight loop: ${summary.retryIntervalsMs.join(', ')} ms`);
      const intervals = summary.retryIntervalsMs;
      assert.ok(
        Math.max(...intervals.slice(-2)) > 2 * Math.min(...intervals.slice(0, 2)),
        `the intervals grow: ${intervals.join(', ')} ms`,
      );
      const waits = states
        .slice(from)
        .filter((s) => s.state === 'backingOff')
        .map((s) => s.delayMs ?? 0);
      assert.ok(waits.length >= 3 && new Set(waits).size > 1, `jittered, growing waits: ${waits.join(', ')}`);
    });
  }

  it('[Offline queue] telemetry sent while the hub is unreachable is delivered after reconnecting, in order', async () => {
    const since = (await platform.central.telemetry.raw(DEVICE, { top: 1000 })).messages.at(-1)?.sequenceNumber ?? 0;
    await fault({ condition: 'unreachable' });
    await eventually(async () => (device.client.state !== 'connected' ? true : undefined), 10_000, 'disconnected');
    const sent = Array.from({ length: 30 }, (_, i) => device.sendTelemetry({ temperature: 100 + i }));
    assert.ok(device.client.queuedTelemetry >= 30, `${device.client.queuedTelemetry} queued while offline`);
    await clearFaults();
    await Promise.all(sent);
    const stored = await eventually(async () => {
      const page = await platform.central.telemetry.raw(DEVICE, { after: since, top: 1000 });
      const values = page.messages.map((m) => Number(m.modeled['temperature'])).filter((v) => v >= 100);
      return values.length >= 30 ? values : undefined;
    });
    assert.deepEqual(
      [...new Set(stored)],
      Array.from({ length: 30 }, (_, i) => 100 + i),
    );
  });

  it('[SAS renewal] the token is renewed before it expires by reconnecting; desired updates still arrive after', async () => {
    const renewing = new PnpDevice({
      idScope: platform.dps.idScope,
      registrationId: 'sdk-renewing',
      credentials: { groupKey: GROUP_KEY },
      modelId: MODEL_ID,
      provisioningHost: platform.dps.hostName,
      ca: readFileSync(String(process.env['NODE_EXTRA_CA_CERTS']), 'utf8'),
      assignmentStore: memoryAssignmentStore(),
      tokenRenewal: { ttlSeconds: 4, marginSeconds: 3 },
    });
    const seen: number[] = [];
    renewing.onWritableProperty('targetTemperature', (value) => {
      seen.push(Number(value));
    });
    const connects: ConnectionStateChange[] = [];
    renewing.on('connectionState', (change) => connects.push(change));
    try {
      await renewing.start();
      await eventually(
        async () => (connects.filter((c) => c.state === 'connected').length >= 3 ? true : undefined),
        15_000,
        'two renewals',
      );
      assert.equal(
        connects.filter((c) => c.state === 'provisioning').length,
        1,
        'a renewal reconnects to the same hub, without DPS',
      );
      const hub = platform.hubs.find((h) => h.hostName === renewing.client.assignment?.assignedHub);
      assert.ok(hub);
      await hub.updateTwin({ deviceId: 'sdk-renewing' }, { properties: { desired: { targetTemperature: 23 } } });
      await eventually(async () => (seen.includes(23) ? true : undefined), 10_000, 'the desired update');
    } finally {
      await renewing.close();
    }
  });

  it('[Best practices: failover] a manual failover is survived with no telemetry lost (sent = stored)', async () => {
    const before = platform.central.telemetry.counts(DEVICE).messages;
    const fromHub = device.client.assignment?.assignedHub;
    const from = states.length;
    let sending = true;
    const sent: Promise<void>[] = [];
    const loop = (async () => {
      let i = 0;
      while (sending) {
        sent.push(device.sendTelemetry({ temperature: 20 + (i++ % 10) }));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await eventually(async () => (sent.length >= 50 ? true : undefined), 10_000, 'sending');
    const answer = await centralRequest(platform, {
      method: 'POST',
      path: `/system/iothub/devices/${DEVICE}/manual-failover`,
      body: { ttl: 30 },
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(answer.status, 200, answer.text);
    await eventually(
      async () => (states.slice(from).some((s) => s.state === 'connected' && s.hub !== fromHub) ? true : undefined),
      30_000,
      'connected to the other hub',
    );
    const afterMove = sent.length;
    await eventually(async () => (sent.length >= afterMove + 50 ? true : undefined), 10_000, 'sending on the new hub');
    sending = false;
    await loop;
    const outcomes = await Promise.allSettled(sent);
    assert.deepEqual(
      outcomes.filter((o) => o.status === 'rejected'),
      [],
      'every message was acknowledged',
    );
    await eventually(
      async () => (platform.central.telemetry.counts(DEVICE).messages - before >= sent.length ? true : undefined),
      10_000,
      'every acknowledged message stored',
    );
    // At least once: a message in flight at the move may be stored twice, never missing.
    const stored = platform.central.telemetry.counts(DEVICE).messages - before;
    assert.ok(stored >= sent.length && stored <= sent.length + 16, `${sent.length} sent, ${stored} stored`);
    assert.notEqual(device.client.assignment?.assignedHub, fromHub);
  });
});
