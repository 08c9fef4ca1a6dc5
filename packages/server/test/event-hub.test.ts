/** The Event Hub-compatible endpoint's pure parts: partition addresses, event positions, partitions, event mapping. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EVENT_HUB_PARTITIONS,
  eventFromTelemetry,
  isEventHubAudience,
  parsePartitionAddress,
  partitionOf,
  startPosition,
} from '../src/edges/amqp/event-hub.js';

describe('parsePartitionAddress', () => {
  it('reads {entity}/ConsumerGroups/{group}/Partitions/{n}', () => {
    assert.deepEqual(parsePartitionAddress('hub-1/ConsumerGroups/$default/Partitions/3'), {
      entity: 'hub-1',
      consumerGroup: '$default',
      partition: 3,
    });
    for (const bad of [
      undefined,
      '$management',
      'hub-1/ConsumerGroups/$default',
      'hub-1/ConsumerGroups/x/Partitions/a',
    ]) {
      assert.equal(parsePartitionAddress(bad), undefined, String(bad));
    }
  });
});

describe('startPosition', () => {
  it('reads the filters @azure/event-hubs sends', () => {
    assert.deepEqual(startPosition(undefined), { afterSequenceNumber: -1 });
    assert.deepEqual(startPosition("amqp.annotation.x-opt-offset > '-1'"), { afterSequenceNumber: -1 });
    assert.deepEqual(startPosition("amqp.annotation.x-opt-offset > '@latest'"), { latest: true });
    assert.deepEqual(startPosition("amqp.annotation.x-opt-offset >= '12'"), { afterSequenceNumber: 11 });
    assert.deepEqual(startPosition("amqp.annotation.x-opt-sequence-number > '7'"), { afterSequenceNumber: 7 });
    assert.deepEqual(startPosition("amqp.annotation.x-opt-enqueued-time > '1700000000000'"), {
      enqueuedAfter: 1_700_000_000_000,
    });
    assert.deepEqual(startPosition("amqp.annotation.x-opt-enqueuedtimeutc > '1700000000000'"), {
      enqueuedAfter: 1_700_000_000_000,
    });
  });

  it('refuses other filters with HUB_INVALID_ARGUMENT', () => {
    for (const filter of ["amqp.annotation.x-opt-offset > 'abc'", 'DROP TABLE', "x-opt-offset > '1'"]) {
      assert.throws(() => startPosition(filter), { code: 'HUB_INVALID_ARGUMENT' }, filter);
    }
  });
});

describe('partitionOf', () => {
  it('is stable and spreads devices over every partition', () => {
    assert.equal(partitionOf('thermostat-1'), partitionOf('thermostat-1'));
    const used = new Set(Array.from({ length: 100 }, (_, i) => partitionOf(`device-${i}`)));
    assert.equal(used.size, EVENT_HUB_PARTITIONS);
  });
});

describe('eventFromTelemetry', () => {
  it('puts system properties in annotations and keeps application properties', () => {
    const event = eventFromTelemetry({
      sequenceNumber: 42,
      hub: 'hub-1',
      deviceId: 'd1',
      enqueuedTime: '2026-01-01T00:00:00.000Z',
      creationTime: '2025-12-31T23:59:59.000Z',
      component: 'thermostat1',
      messageId: 'm1',
      contentType: 'application/json',
      properties: { a: '1', 'iothub-creation-time-utc': '2025-12-31T23:59:59.000Z', gone: null },
      systemProperties: { 'iothub-connection-auth-method': '{"scope":"device","type":"sas"}' },
      body: Buffer.from('{}'),
    });
    assert.equal(event.message_id, 'm1');
    assert.deepEqual(event.application_properties, { a: '1' });
    const annotations = event.message_annotations ?? {};
    assert.equal(annotations['iothub-connection-device-id'], 'd1');
    assert.equal(annotations['dt-subject'], 'thermostat1');
    assert.equal(annotations['iothub-creation-time-utc'], '2025-12-31T23:59:59.000Z');
    assert.equal(annotations['x-opt-offset'], '42');
  });

  it('tells Event Hubs audiences from device and hub ones', () => {
    assert.equal(isEventHubAudience('sb://127.0.0.2/hub-1'), true);
    assert.equal(isEventHubAudience('127.0.0.2/devices/d1'), false);
  });
});
