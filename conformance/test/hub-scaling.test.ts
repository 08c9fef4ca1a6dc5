/**
 * Scaling the application's internal hubs while it runs (issue 10, acceptance 3): a hub added through
 * the CLI takes its share of new registrations — 300 new devices over three hubs give each 100 — and an
 * official-SDK device DPS assigns there connects to it (the server certificate now covers its address);
 * removing a hub carries its devices to the others while official-SDK devices written as the
 * high-availability samples keep sending: they are refused on the removed hub, go back to DPS and carry
 * on, and every message a hub acknowledged is stored (counted by sequence number). The removed hub then
 * stops listening, and a restart keeps the changed set.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deriveDeviceKey } from '@plugboard/protocol';
import { connectDevice, provisionDevice } from './central-fixtures.js';
import { HighAvailabilityDevice } from './ha-device.js';
import {
  centralRequest,
  dpsRequest,
  dpsToken,
  eventually,
  runCli,
  startTestPlatform,
  withTimeout,
  type TestPlatform,
} from './harness.js';

const GROUP_KEY = 'aHVic2NhbGluZ2dyb3Vwa2V5aHVic2NhbGluZ2tleTE=';

interface HubRow {
  name: string;
  hostName: string;
  address: string;
  mqttPort: number;
  devices: number;
  connections: number;
  state: string;
  closesAt?: string;
}

let platform: TestPlatform;

async function hubs(): Promise<HubRow[]> {
  const response = await centralRequest(platform, { method: 'GET', path: '/plugboard/hubs' });
  assert.equal(response.status, 200, response.text);
  return (response.body as { value: HubRow[] }).value;
}

function addHub(body: Record<string, unknown>) {
  return centralRequest(platform, {
    method: 'POST',
    path: '/plugboard/hubs',
    body,
    headers: { 'content-type': 'application/json' },
  });
}

async function cli(...args: string[]): Promise<unknown> {
  writeFileSync(join(platform.dataDir, 'plugboard.json'), JSON.stringify(platform.manifest()));
  return JSON.parse(await runCli(...args, '--data-dir', platform.dataDir, '--json')) as unknown;
}

/** Registers a device over raw DPS HTTPS with its derived key; resolves with its hub's host name. */
async function register(registrationId: string): Promise<string> {
  const key = await deriveDeviceKey(GROUP_KEY, registrationId);
  const token = await dpsToken(platform.dps.idScope, registrationId, key);
  const response = await dpsRequest(platform, {
    method: 'PUT',
    path: `/${platform.dps.idScope}/registrations/${registrationId}/register?api-version=2021-06-01`,
    body: { registrationId },
    token,
  });
  assert.equal(response.status, 202, response.text);
  return platform.dps.getRegistration(registrationId).hub;
}

/** An HA device that sends numbered telemetry and keeps the numbers its hubs acknowledged. */
class CountingSender {
  readonly acknowledged: number[] = [];
  #next = 0;
  #running = true;
  readonly #loop: Promise<void>;

  constructor(readonly device: HighAvailabilityDevice) {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const seq = this.#next++;
      try {
        await this.device.send({ temperature: 20 + (seq % 10), seq });
        this.acknowledged.push(seq);
      } catch {
        // Not acknowledged (the device was between hubs): it is not counted, and not expected stored.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

before(async () => {
  platform = await startTestPlatform({ hubs: 2 });
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
});
after(async () => {
  await platform?.dispose();
});

describe('[Central] hub scaling', () => {
  it('a hub added while running takes its share: 300 new registrations give each of three hubs 100', async () => {
    const added = (await cli('hub', 'add')) as HubRow;
    assert.equal(added.name, 'hub-3');
    assert.equal(added.state, 'running');
    assert.equal(platform.hubs.length, 3);
    assert.deepEqual(
      (await hubs()).map((h) => [h.name, h.devices]),
      [
        ['hub-1', 0],
        ['hub-2', 0],
        ['hub-3', 0],
      ],
    );
    const assigned = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const hub = await register(`scaled-${i}`);
      assigned.set(hub, (assigned.get(hub) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(assigned), { 'hub-1': 100, 'hub-2': 100, 'hub-3': 100 });
    assert.deepEqual(
      (await hubs()).map((h) => h.devices),
      [100, 100, 100],
    );

    // An official-SDK device DPS gives the new hub connects there: the certificate covers its address.
    const ids = Array.from({ length: 3 }, (_, i) => `on-new-hub-${i}`);
    let connectedToNew = false;
    for (const id of ids) {
      const registration = await provisionDevice(platform, id, GROUP_KEY);
      if (registration.assignedHub !== added.hostName) continue;
      const client = await connectDevice(registration, GROUP_KEY);
      await withTimeout(client.close(), 5_000, 'close');
      connectedToNew = true;
    }
    assert.ok(connectedToNew, 'one of three new devices lands on the emptiest hub and connects');

    // The same hub set, added with a name and address of choice, and refusals with reasons.
    const clash = await addHub({ name: 'hub-1' });
    assert.equal(clash.status, 409, clash.text);
    assert.match(clash.text, /has a hub hub-1 already/);
    const bad = await addHub({ address: 'not-an-address' });
    assert.equal(bad.status, 400, bad.text);
  });

  it('removing a hub carries its devices to the others; every acknowledged message is stored', async () => {
    const devices = Array.from(
      { length: 6 },
      (_, i) => new HighAvailabilityDevice(platform, `ha-scaled-${i}`, GROUP_KEY),
    );
    for (const device of devices) await device.connect();
    // The hub with most of the connected devices goes.
    const byHub = new Map<string, HighAvailabilityDevice[]>();
    for (const device of devices) {
      const host = device.hubs[0]!;
      byHub.set(host, [...(byHub.get(host) ?? []), device]);
    }
    const [removedHost, leaving] = [...byHub.entries()].sort((a, b) => b[1].length - a[1].length)[0]!;
    const removed = platform.hubs.find((h) => h.hostName === removedHost)!;
    const registeredThere = platform.dps.listRegistrations().filter((r) => r.hub === removed.name).length;
    const senders = devices.map((d) => new CountingSender(d));
    await eventually(() => (senders.every((s) => s.acknowledged.length >= 5) ? true : undefined), 10_000, 'sends');

    // A cloud-to-device message queued there (the device does not listen for them) goes along.
    const carried = leaving[0]!.deviceId;
    await removed.sendC2d({ deviceId: carried }, { body: Buffer.from('{"mode":"eco"}'), messageId: 'queued-1' });

    const removal = (await cli('hub', 'remove', '--name', removed.name, '--drain-seconds', '8')) as {
      name: string;
      moved: Record<string, number>;
      closesAt: string;
    };
    assert.equal(removal.name, removed.name);
    assert.equal(
      Object.values(removal.moved).reduce((a, b) => a + b, 0),
      registeredThere,
      'every registration of the removed hub moved',
    );
    assert.equal(removal.moved[removed.name], undefined);
    assert.ok(platform.dps.listRegistrations().every((r) => r.hub !== removed.name));
    const draining = (await hubs()).find((h) => h.name === removed.name);
    assert.equal(draining?.state, 'draining');
    writeFileSync(join(platform.dataDir, 'plugboard.json'), JSON.stringify(platform.manifest()));
    const listedText = await runCli('hub', 'list', '--data-dir', platform.dataDir);
    assert.match(listedText, new RegExp(`${removed.name} .*draining: refuses devices until ${removal.closesAt}`));

    const carriedTo = platform.hubs.find((h) => h.name === platform.dps.getRegistration(carried).hub)!;
    assert.equal(carriedTo.c2dQueueLength({ deviceId: carried }), 1, 'the queued C2D message moved with the device');
    assert.equal(removed.c2dQueueLength({ deviceId: carried }), 0);

    // The devices that were on it are refused there, go back to DPS and connect elsewhere.
    for (const device of leaving) {
      const now = await device.movedFrom(1);
      assert.notEqual(now, removedHost);
    }
    const counts = senders.map((s) => s.acknowledged.length);
    await eventually(
      () => (senders.every((s, i) => s.acknowledged.length >= counts[i]! + 5) ? true : undefined),
      15_000,
      'telemetry acknowledged after the move',
    );
    for (const sender of senders) await sender.stop();

    for (const sender of senders) {
      const stored = await platform.storage.queryTelemetry({ deviceId: sender.device.deviceId, limit: 10_000 });
      const seqs = new Set(
        stored.map((r) => (JSON.parse(Buffer.from(r.body).toString('utf8')) as { seq: number }).seq),
      );
      const missing = sender.acknowledged.filter((seq) => !seqs.has(seq));
      assert.deepEqual(missing, [], `${sender.device.deviceId}: acknowledged messages missing from the store`);
      assert.ok(sender.acknowledged.length >= 10);
    }
    for (const device of devices) await device.stop();

    // After the drain the hub is gone: listed no more, connections to it refused.
    await eventually(
      async () => ((await hubs()).some((h) => h.name === removed.name) ? undefined : true),
      15_000,
      'the drained hub to close',
    );
    const endpointGone = await new Promise<string>((resolve) => {
      const socket = connect({ host: removed.hostName, port: platform.endpoints[0]!.mqttPort });
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    assert.equal(endpointGone, 'ECONNREFUSED');
    const listed = (await cli('hub', 'list')) as HubRow[];
    assert.deepEqual(
      listed.map((h) => h.name).sort(),
      ['hub-1', 'hub-2', 'hub-3'].filter((n) => n !== removed.name),
    );
    assert.equal(
      listed.reduce((n, h) => n + h.devices, 0),
      platform.dps.listRegistrations().length,
    );
  });

  it('the last hub cannot be removed, and a restart keeps the changed hub set', async () => {
    const names = (await hubs()).map((h) => h.name);
    // An enrollment that may use only that hub keeps it.
    await platform.dps.putEnrollmentGroup('pinned', {
      attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
      allocationPolicy: 'static',
      staticHub: names[0]!,
    });
    const pinned = await centralRequest(platform, { method: 'DELETE', path: `/plugboard/hubs/${names[0]}` });
    assert.equal(pinned.status, 409, pinned.text);
    assert.match(pinned.text, /can allocate devices to .+ only/);
    await platform.dps.deleteEnrollmentGroup('pinned');

    const first = await centralRequest(platform, {
      method: 'DELETE',
      path: `/plugboard/hubs/${names[0]}?drainSeconds=0`,
    });
    assert.equal(first.status, 200, first.text);
    const last = await centralRequest(platform, { method: 'DELETE', path: `/plugboard/hubs/${names[1]}` });
    assert.equal(last.status, 409, last.text);
    assert.match(last.text, /only linked hub/);
    const missing = await centralRequest(platform, { method: 'DELETE', path: '/plugboard/hubs/hub-9' });
    assert.equal(missing.status, 404, missing.text);

    const registrations = platform.dps.listRegistrations().length;
    const dataDir = platform.dataDir;
    await platform.close();
    platform = await startTestPlatform({ hubs: 2, dataDir });
    assert.deepEqual(
      (await hubs()).map((h) => [h.name, h.devices]),
      [[names[1], registrations]],
    );
  });
});
