/**
 * The SDKs' fault-control messages as the hub reads them: which operations sever, which refuse telemetry
 * and with what, the delay and duration bounds, and the refusal windows over time. No sockets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RefusalWindows, faultOperationOf } from '../src/core/hub/fault-operations.js';

describe('fault operations (AzIoTHub_FaultOperationType)', () => {
  it('reads severing and refusing operations; ignores others and inherited names', () => {
    assert.deepEqual(
      faultOperationOf({ AzIoTHub_FaultOperationType: 'KillTcp', AzIoTHub_FaultOperationDelayInSecs: '1' }),
      {
        type: 'KillTcp',
        effect: 'sever',
        delayMs: 1000,
        durationMs: 5000,
        reason: 'KillTcp',
      },
    );
    assert.equal(
      faultOperationOf({ AzIoTHub_FaultOperationType: 'InvokeMaxMessageQuota' })?.effect,
      'HUB_QUOTA_EXCEEDED',
    );
    assert.equal(faultOperationOf({ AzIoTHub_FaultOperationType: 'InvokeAuthError' })?.effect, 'HUB_UNAUTHORIZED');
    for (const type of ['Nothing', 'constructor', '__proto__', 'toString']) {
      assert.equal(faultOperationOf({ AzIoTHub_FaultOperationType: type }), undefined, type);
    }
    assert.equal(faultOperationOf({}), undefined);
  });

  it('clamps delay and duration to [0, 300] s and takes the default on garbage', () => {
    const op = faultOperationOf({
      AzIoTHub_FaultOperationType: 'InvokeThrottling',
      AzIoTHub_FaultOperationDelayInSecs: '-4',
      AzIoTHub_FaultOperationDurationInSecs: '9999',
      AzIoTHub_FaultOperationCloseReason: '  throttle connection ',
    });
    assert.deepEqual(op, {
      type: 'InvokeThrottling',
      effect: 'HUB_THROTTLED',
      delayMs: 0,
      durationMs: 300_000,
      reason: 'throttle connection',
    });
    assert.equal(
      faultOperationOf({ AzIoTHub_FaultOperationType: 'InvokeThrottling', AzIoTHub_FaultOperationDurationInSecs: 'x' })
        ?.durationMs,
      5000,
    );
  });

  it('a refusal window opens after its delay, lasts its duration, and is forgotten after', () => {
    const windows = new RefusalWindows();
    const op = faultOperationOf({
      AzIoTHub_FaultOperationType: 'InvokeThrottling',
      AzIoTHub_FaultOperationDelayInSecs: '1',
      AzIoTHub_FaultOperationDurationInSecs: '2',
    });
    assert.ok(op !== undefined);
    windows.open('dev1', op, 0);
    assert.equal(windows.active, true);
    assert.equal(windows.refusal('dev1', 500), undefined, 'not yet: the delay');
    assert.equal(windows.refusal('dev1', 1000)?.code, 'HUB_THROTTLED');
    assert.equal(windows.refusal('dev2', 1000), undefined, 'another identity');
    assert.equal(windows.refusal('dev1', 2999)?.code, 'HUB_THROTTLED');
    assert.equal(windows.refusal('dev1', 3000), undefined, 'over');
    assert.equal(windows.active, false);
    const sever = faultOperationOf({ AzIoTHub_FaultOperationType: 'KillTcp' });
    assert.ok(sever !== undefined);
    windows.open('dev1', sever, 0);
    assert.equal(windows.active, false, 'a severing operation opens no window');
  });
});
