/**
 * DPS over AMQP (protocol.md §3.5) beyond the happy path: the official `azure-iot-provisioning-device-amqp`
 * refused (wrong key and unknown ID scope in the SASL exchange, a disabled enrollment, injected DPS
 * faults) or retried (throttling, internal errors), and a raw `rhea` client sending what the SDK never
 * does — links to another registration or to no registration, no credentials, malformed, oversized and
 * unknown requests, random bytes on 5671 — each refused with its condition, nothing registered, the
 * server up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import provisioningSdk from 'azure-iot-provisioning-device';
import provisioningAmqp from 'azure-iot-provisioning-device-amqp';
import symmetricKeySecurity from 'azure-iot-security-symmetric-key';
import rhea, { type Connection, type Message } from 'rhea';
import { deriveDeviceKey } from '@plugboard/protocol';
import { centralRequest, dpsToken, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';
import { fuzzAmqpPort } from './fuzz.js';

const { ProvisioningDeviceClient } = provisioningSdk;
const { Amqp: ProvisioningAmqp } = provisioningAmqp;
const { SymmetricKeySecurityClient } = symmetricKeySecurity;

const GROUP_KEY = 'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=';
const SECONDARY = 'c2Vjb25kYXJ5a2V5c2Vjb25kYXJ5a2V5MTIzNDU2Nzg=';
const WRONG_KEY = Buffer.alloc(32, 7).toString('base64');

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform({ hubs: 1, dps: { retryAfterSeconds: 1 } });
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: SECONDARY } },
  });
});
after(async () => {
  await platform?.dispose();
});

async function sdkRegister(registrationId: string, key: string, idScope = platform.dps.idScope) {
  const client = ProvisioningDeviceClient.create(
    platform.dps.hostName,
    idScope,
    new ProvisioningAmqp(),
    // Two copies of azure-iot-common make the SDK's own types disagree; the object is what it expects.
    new SymmetricKeySecurityClient(registrationId, key) as never,
  );
  client.setProvisioningPayload({ modelId: 'dtmi:com:example:Thermostat;1' });
  return (await withTimeout(client.register() as Promise<unknown>, 30_000, 'register')) as {
    assignedHub: string;
    deviceId: string;
  };
}

const registered = (registrationId: string): boolean =>
  platform.dps.listRegistrations().some((r) => r.registrationId === registrationId);

describe('DPS over AMQP: the official SDK refused or retried', () => {
  it('[§3.5] a wrong key fails the SASL exchange (the SDK reports NotConnectedError), nothing registered, the refusal on the event stream', async () => {
    const refusals: string[] = [];
    const stop = platform.events.subscribe((event) => {
      if (event.type === 'registration' && event.outcome === 'refused') refusals.push(event.registrationId);
    });
    try {
      // The SDK turns a failed SASL outcome into NotConnectedError (azure-iot-amqp-base).
      await assert.rejects(sdkRegister('amqp-wrong-key', WRONG_KEY), (err: Error) => err.name === 'NotConnectedError');
    } finally {
      stop();
    }
    assert.equal(registered('amqp-wrong-key'), false);
    assert.ok(refusals.includes('amqp-wrong-key'), 'the refusal is reported for the device timeline');
  });

  it('[§3.5] an unknown ID scope fails the SASL exchange', async () => {
    const key = await deriveDeviceKey(GROUP_KEY, 'amqp-scope');
    await assert.rejects(
      sdkRegister('amqp-scope', key, '0ne00000000'),
      (err: Error) => err.name === 'NotConnectedError',
    );
    assert.equal(registered('amqp-scope'), false);
  });

  it('[§3.4] a disabled enrollment answers status "disabled" and the SDK fails', async () => {
    const key = 'ZGlzYWJsZWRrZXlkaXNhYmxlZGtleTEyMzQ1Njc4OTA=';
    await platform.dps.putIndividualEnrollment('amqp-disabled', {
      attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: key, secondaryKey: SECONDARY } },
      provisioningStatus: 'disabled',
    });
    await assert.rejects(sdkRegister('amqp-disabled', key), /disabled/);
    assert.equal(
      platform.hubs.some((h) => h.has({ deviceId: 'amqp-disabled' })),
      false,
    );
  });

  it('[DPS: quotas] over quota the request is rejected with device-container-throttled and retry-after; the SDK retries and succeeds', async () => {
    platform.dps.setQuotas({ registrations: { limit: 1, windowSeconds: 2 } });
    try {
      await sdkRegister('amqp-quota-a', await deriveDeviceKey(GROUP_KEY, 'amqp-quota-a'));
      const before = platform.dps.stats.throttled;
      const result = await sdkRegister('amqp-quota-b', await deriveDeviceKey(GROUP_KEY, 'amqp-quota-b'));
      assert.ok(platform.dps.stats.throttled > before, 'the SDK was throttled at least once before succeeding');
      assert.equal(result.deviceId, 'amqp-quota-b');
    } finally {
      platform.dps.setQuotas({});
    }
  });

  const addFault = async (fault: Record<string, unknown>): Promise<void> => {
    const response = await centralRequest(platform, { method: 'POST', path: '/plugboard/faults', body: fault });
    assert.equal(response.status, 201, response.text);
  };
  const clearFaults = async (): Promise<void> => {
    await centralRequest(platform, { method: 'DELETE', path: '/plugboard/faults' });
  };

  for (const condition of ['dpsBlocked', 'dpsUnauthorized'] as const) {
    it(`[faults] ${condition}: the register request is rejected with amqp:unauthorized-access and the SDK fails; the next attempt registers`, async () => {
      const id = `amqp-${condition.toLowerCase()}`;
      const key = await deriveDeviceKey(GROUP_KEY, id);
      await addFault({ condition, deviceId: id, attempts: 1 });
      try {
        // The SDK fails the registration with the rejection itself: condition, description and info.
        await assert.rejects(sdkRegister(id, key), (err: { condition?: string; info?: { errorCode?: number } }) => {
          assert.equal(err.condition, 'amqp:unauthorized-access');
          assert.equal(err.info?.errorCode, condition === 'dpsBlocked' ? 400209 : 401002);
          return true;
        });
        assert.equal((await sdkRegister(id, key)).deviceId, id);
      } finally {
        await clearFaults();
      }
    });
  }

  for (const condition of ['dpsThrottled', 'dpsInternalError'] as const) {
    it(`[faults] ${condition}: the SDK retries the rejected request and registers`, async () => {
      const id = `amqp-${condition.toLowerCase()}`;
      await addFault({ condition, deviceId: id, attempts: 2 });
      try {
        assert.equal((await sdkRegister(id, await deriveDeviceKey(GROUP_KEY, id))).deviceId, id);
        const faults = (await centralRequest(platform, { method: 'GET', path: '/plugboard/faults' })).body as {
          value: { condition: string; matched: number }[];
        };
        const fault = faults.value.find((f) => f.condition === condition);
        assert.equal(fault?.matched, 2, 'both refusals were met before the registration went through');
      } finally {
        await clearFaults();
      }
    });
  }
});

/** A raw AMQP client on DPS's 5671, with SASL PLAIN when `plain` is given. */
async function rawDps(plain?: { username: string; password: string }): Promise<Connection> {
  const container = rhea.create_container();
  const connection = container.connect({
    host: platform.dpsEndpoint.address,
    port: platform.dpsEndpoint.amqpPort,
    transport: 'tls',
    hostname: platform.dps.hostName,
    reconnect: false,
    ca: platform.tls.caCertificatePem,
    ...(plain ?? {}),
  } as unknown as Parameters<typeof container.connect>[0]);
  await new Promise<void>((resolve, reject) => {
    connection.once('connection_open', () => resolve());
    connection.once('connection_error', () => reject(new Error('connection refused')));
    connection.once('disconnected', () => reject(new Error('disconnected')));
  });
  return connection;
}

/** The condition a link is closed with, or `'open'` when it stays attached. */
function linkOutcome(connection: Connection, address: string, role: 'sender' | 'receiver'): Promise<string> {
  return new Promise((resolve) => {
    const link =
      role === 'sender'
        ? connection.open_sender({ target: { address } })
        : connection.open_receiver({ source: { address } });
    const timer = setTimeout(() => resolve('open'), 1000);
    link.once(role === 'sender' ? 'sender_close' : 'receiver_close', () => {
      clearTimeout(timer);
      resolve(String(link.error && (link.error as { condition?: string }).condition));
    });
  });
}

/** Sends one request on a registration's links; resolves with the response or the rejection's condition. */
function request(connection: Connection, address: string, message: Message): Promise<Message | string> {
  return new Promise((resolve) => {
    const replies = connection.open_receiver({ source: { address } });
    replies.on('message', (context) => resolve(context.message as Message));
    const sender = connection.open_sender({ target: { address } });
    sender.once('sendable', () => sender.send({ correlation_id: 'c-1', ...message }));
    sender.on('rejected', (context) => {
      const error = context.delivery?.remote_state as { error?: { condition?: string } } | undefined;
      resolve(String(error?.error?.condition));
    });
  });
}

describe('DPS over AMQP: raw clients', () => {
  const id = 'amqp-raw';
  const address = () => `${platform.dps.idScope}/registrations/${id}`;
  const plain = async () => ({
    username: address(),
    password: await dpsToken(platform.dps.idScope, id, await deriveDeviceKey(GROUP_KEY, id)),
  });

  it('[§3.5] links to another registration or to no registration are closed; without credentials every link is', async () => {
    const connection = await rawDps(await plain());
    try {
      assert.equal(await linkOutcome(connection, address(), 'receiver'), 'open', 'its own registration');
      const other = `${platform.dps.idScope}/registrations/victim`;
      assert.equal(await linkOutcome(connection, other, 'sender'), 'amqp:unauthorized-access');
      assert.equal(await linkOutcome(connection, other, 'receiver'), 'amqp:unauthorized-access');
      assert.equal(await linkOutcome(connection, '$cbs', 'sender'), 'amqp:not-found');
    } finally {
      connection.close();
    }
    const anonymous = await rawDps();
    try {
      assert.equal(await linkOutcome(anonymous, address(), 'sender'), 'amqp:unauthorized-access');
    } finally {
      anonymous.close();
    }
    assert.equal(registered('victim'), false);
  });

  it('[§3.5] malformed, oversized and unknown requests are rejected with their condition; a good one is answered', async () => {
    const connection = await rawDps(await plain());
    const data = (text: string | Buffer) => rhea.message.data_section(Buffer.from(text));
    const register = { 'iotdps-operation-type': 'iotdps-register' };
    try {
      assert.equal(
        await request(connection, address(), { application_properties: register, body: data('{not json') }),
        'com.microsoft:argument-error',
      );
      assert.equal(
        await request(connection, address(), {
          application_properties: register,
          body: data(Buffer.alloc(40_000, 0x20)),
        }),
        'amqp:link:message-size-exceeded',
      );
      assert.equal(
        await request(connection, address(), {
          application_properties: { 'iotdps-operation-type': 'iotdps-delete' },
          body: '',
        }),
        'com.microsoft:argument-error',
      );
      assert.equal(
        await request(connection, address(), {
          application_properties: { 'iotdps-operation-type': 'iotdps-get-operationstatus', 'iotdps-operation-id': 'x' },
          body: '',
        }),
        'amqp:not-found',
      );
      assert.equal(registered(id), false, 'nothing was registered');
      const answer = await request(connection, address(), {
        application_properties: register,
        body: data(JSON.stringify({ registrationId: id })),
      });
      assert.ok(typeof answer !== 'string', `answered, not ${String(answer)}`);
      assert.equal(answer.correlation_id, 'c-1');
      const body = JSON.parse(Buffer.from((answer.body as { content: Buffer }).content).toString()) as {
        status: string;
        operationId: string;
      };
      assert.equal(body.status, 'assigning');
      assert.ok(Number(answer.application_properties?.['retry-after']) >= 1);
      assert.equal(registered(id), true);
    } finally {
      connection.close();
    }
  });

  it('[fuzz] random and truncated bytes on DPS 5671 end that connection only; the server stays up', async () => {
    await fuzzAmqpPort(
      { host: platform.dpsEndpoint.address, port: platform.dpsEndpoint.amqpPort, ca: platform.tls.caCertificatePem },
      3,
    );
    const id2 = 'amqp-after-fuzz';
    assert.equal((await sdkRegister(id2, await deriveDeviceKey(GROUP_KEY, id2))).deviceId, id2);
  });
});
