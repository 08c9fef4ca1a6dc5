import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeviceError, readRegistrationAnswer } from '../src/index.js';
import type { RegistrationRequest } from '../src/index.js';
import { pause, registrationBody } from '../src/provisioning.js';

/** Runs `fn` and returns the DeviceError it throws. */
function thrown(fn: () => unknown): DeviceError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DeviceError, String(error));
    return error;
  }
  assert.fail('expected a DeviceError');
}

const REQUEST: RegistrationRequest = {
  provisioningHost: '127.0.0.1',
  idScope: '0ne00ABCDEF',
  registrationId: 'dev1',
  credentials: { kind: 'sas', deviceKey: 'OLA3eIzpasQ8yAMJ7izbqK9rZ8DmvITpRezFluwpsxU=' },
  clientVersion: 'plugboard-device/test',
};

describe('readRegistrationAnswer: DPS answers (protocol §3.4)', () => {
  it('[protocol §3.4] 200 assigned gives the hub, device id, registration id and substatus', () => {
    const step = readRegistrationAnswer(
      200,
      {
        operationId: '4.5cda764d087b4e5a.6c6a7983-b979-44eb-8611-7f08bf1fc331',
        status: 'assigned',
        registrationState: {
          registrationId: 'dev1',
          createdDateTimeUtc: '2024-05-01T10:00:00.1234567Z',
          assignedHub: 'iotc-1a2b3c.azure-devices.net',
          deviceId: 'dev1',
          status: 'assigned',
          substatus: 'initialAssignment',
          etag: 'IjA4MDUwMTJiLTAwMDAtMDcwMC0wMDAwLTYyODJhOWVjMDAwMCI=',
          payload: {},
        },
      },
      undefined,
    );
    assert.deepEqual(step, {
      kind: 'assigned',
      assignment: {
        assignedHub: 'iotc-1a2b3c.azure-devices.net',
        deviceId: 'dev1',
        registrationId: 'dev1',
        substatus: 'initialAssignment',
      },
    });
  });

  it('[protocol §3.4] assigned without substatus or registration id: the device id stands in', () => {
    const step = readRegistrationAnswer(
      200,
      { operationId: 'op', status: 'Assigned', registrationState: { assignedHub: '127.0.0.2', deviceId: 'dev1' } },
      undefined,
    );
    assert.deepEqual(step, {
      kind: 'assigned',
      assignment: { assignedHub: '127.0.0.2', deviceId: 'dev1', registrationId: 'dev1' },
    });
  });

  it('[protocol §3.2: retry-after] 202 assigning polls the operation after retry-after, 2 s when absent', () => {
    assert.deepEqual(readRegistrationAnswer(202, { operationId: '4.a.b', status: 'assigning' }, 1), {
      kind: 'assigning',
      operationId: '4.a.b',
      retryAfter: 1,
    });
    assert.deepEqual(readRegistrationAnswer(202, { operationId: '4.a.b', status: 'assigning' }, undefined), {
      kind: 'assigning',
      operationId: '4.a.b',
      retryAfter: 2,
    });
    assert.deepEqual(
      readRegistrationAnswer(
        202,
        {
          operationId: '4.a.b',
          status: 'assigning',
          registrationState: { registrationId: 'dev1', status: 'assigning' },
        },
        3,
      ),
      { kind: 'assigning', operationId: '4.a.b', retryAfter: 3 },
    );
  });

  it('[protocol §3.4] assigning without an operation id is a provisioning failure', () => {
    for (const body of [{ status: 'assigning' }, { status: 'assigning', operationId: '' }]) {
      assert.equal(thrown(() => readRegistrationAnswer(202, body, undefined)).code, 'DEVICE_PROVISIONING_FAILED');
    }
  });

  it('[protocol §7.5] a failed registration with 400209 keeps the errorCode and derives status 400', () => {
    const error = thrown(() =>
      readRegistrationAnswer(
        200,
        {
          operationId: 'op',
          status: 'failed',
          registrationState: {
            registrationId: 'dev1',
            status: 'failed',
            errorCode: 400209,
            errorMessage: 'Custom allocation failed with status code: 401',
          },
        },
        undefined,
      ),
    );
    assert.equal(error.code, 'DEVICE_PROVISIONING_FAILED');
    assert.equal(error.status, 400);
    assert.equal(error.errorCode, 400209);
    assert.match(error.message, /Custom allocation failed with status code: 401/);
  });

  it('[protocol §3.4] a failed registration without an errorCode is a 400', () => {
    const error = thrown(() => readRegistrationAnswer(200, { operationId: 'op', status: 'failed' }, undefined));
    assert.equal(error.status, 400);
    assert.equal(error.errorCode, undefined);
  });

  it('[protocol §3.4] a disabled enrollment (status disabled with 200) is a provisioning failure', () => {
    const error = thrown(() =>
      readRegistrationAnswer(
        200,
        { operationId: 'op', status: 'disabled', registrationState: { registrationId: 'dev1', status: 'disabled' } },
        undefined,
      ),
    );
    assert.equal(error.code, 'DEVICE_PROVISIONING_FAILED');
    assert.ok(error.status !== undefined && error.status >= 400 && error.status < 500, `status ${error.status}`);
    assert.match(error.message, /disabled/);
  });

  it('[protocol §7.5: fix credentials] 401 with {errorCode: 401002, message} keeps status, errorCode and message', () => {
    const error = thrown(() =>
      readRegistrationAnswer(
        401,
        {
          errorCode: 401002,
          trackingId: '2b1bc2a5-3b8e-4d1d-9a43-4e5ad2d0e9c4',
          message: 'The device is unauthorized.',
          timestampUtc: '2024-05-01T10:00:00.000Z',
        },
        undefined,
      ),
    );
    assert.equal(error.code, 'DEVICE_PROVISIONING_FAILED');
    assert.equal(error.status, 401);
    assert.equal(error.errorCode, 401002);
    assert.equal(error.retryAfter, undefined);
    assert.match(error.message, /The device is unauthorized\./);
  });

  it('[protocol §7.5] 401 with errorCode 400209 (blocked) keeps both', () => {
    const error = thrown(() => readRegistrationAnswer(401, { errorCode: 400209, message: 'blocked' }, undefined));
    assert.equal(error.status, 401);
    assert.equal(error.errorCode, 400209);
  });

  it('[protocol §8.2: throttled] 429 keeps the retry-after DPS sent', () => {
    const error = thrown(() => readRegistrationAnswer(429, { errorCode: 429001, message: 'throttled' }, 17));
    assert.equal(error.status, 429);
    assert.equal(error.errorCode, 429001);
    assert.equal(error.retryAfter, 17);
  });

  it('an error status whose body is not JSON still says the status', () => {
    const error = thrown(() => readRegistrationAnswer(503, undefined, undefined));
    assert.equal(error.code, 'DEVICE_PROVISIONING_FAILED');
    assert.equal(error.status, 503);
    assert.equal(error.errorCode, undefined);
    assert.match(error.message, /503/);
  });

  it('a success status whose body is not a JSON object is a provisioning failure', () => {
    for (const body of [undefined, null, 'assigned', 42, ['assigned']]) {
      const error = thrown(() => readRegistrationAnswer(200, body, undefined));
      assert.equal(error.code, 'DEVICE_PROVISIONING_FAILED', JSON.stringify(body));
    }
  });

  it('[protocol §3.4] assigned without an assigned hub or device id is a provisioning failure', () => {
    for (const registrationState of [
      { deviceId: 'dev1', registrationId: 'dev1' },
      { assignedHub: '127.0.0.2', registrationId: 'dev1' },
      { assignedHub: 42, deviceId: 'dev1' },
      undefined,
    ]) {
      const error = thrown(() =>
        readRegistrationAnswer(200, { operationId: 'op', status: 'assigned', registrationState }, undefined),
      );
      assert.equal(error.code, 'DEVICE_PROVISIONING_FAILED', JSON.stringify(registrationState));
    }
  });
});

describe('registrationBody', () => {
  it('[protocol §3.4] without a payload: only the registration id', () => {
    assert.equal(registrationBody(REQUEST), '{"registrationId":"dev1"}');
    assert.equal(registrationBody({ ...REQUEST, payload: undefined }), '{"registrationId":"dev1"}');
  });

  it('[protocol §7.3] with a payload: { registrationId, payload } as given', () => {
    const body = registrationBody({ ...REQUEST, payload: { modelId: 'dtmi:com:example:Thermostat;1' } });
    assert.deepEqual(JSON.parse(body), {
      registrationId: 'dev1',
      payload: { modelId: 'dtmi:com:example:Thermostat;1' },
    });
    // A JSON-encoded string payload (the HA samples' style) is sent as a string.
    assert.deepEqual(JSON.parse(registrationBody({ ...REQUEST, payload: '{"iotcModelId":"dtmi:x:y;1"}' })), {
      registrationId: 'dev1',
      payload: '{"iotcModelId":"dtmi:x:y;1"}',
    });
  });
});

describe('pause', () => {
  it('resolves after the wait', async () => {
    await pause(1);
    await pause(0, new AbortController().signal);
  });

  it('[errors: DEVICE_CLOSED] rejects when the signal aborts during the wait', async () => {
    const controller = new AbortController();
    const waiting = pause(60_000, controller.signal);
    const reason = new Error('stop');
    controller.abort(reason);
    await assert.rejects(
      waiting,
      (error: unknown) => error instanceof DeviceError && error.code === 'DEVICE_CLOSED' && error.cause === reason,
    );
  });

  it('[errors: DEVICE_CLOSED] rejects at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      pause(60_000, controller.signal),
      (error: unknown) => error instanceof DeviceError && error.code === 'DEVICE_CLOSED',
    );
  });
});
