import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError, c2dResponseHeaders, d2cPropertiesFromHeaders, decodeD2cBatch } from '../src/index.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('device HTTPS messages (protocol.md §4)', () => {
  it('[§4.1] headers become system and application properties; other headers are ignored', () => {
    assert.deepEqual(
      d2cPropertiesFromHeaders({
        'Dt-Subject': 'thermostat1',
        'iothub-app-MyProp': 'v1',
        'IoTHub-MessageId': 'mid-1',
        'iothub-correlationid': 'c1',
        'iothub-contenttype': 'application/json',
        'iothub-contentencoding': 'utf-8',
        'iothub-app-iothub-creation-time-utc': '2021-04-21T11:30:16Z',
        authorization: 'SharedAccessSignature sr=x',
        'user-agent': 'azure-iot-device/1.18.4',
        'iothub-app-': 'nameless',
      }),
      {
        component: 'thermostat1',
        messageId: 'mid-1',
        correlationId: 'c1',
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        creationTimeUtc: '2021-04-21T11:30:16Z',
        application: { MyProp: 'v1', 'iothub-creation-time-utc': '2021-04-21T11:30:16Z' },
      },
    );
  });

  it('[§4.1] iothub-app-$.sub is the component; a __proto__ property is an own property', () => {
    const props = d2cPropertiesFromHeaders({ 'iothub-app-$.sub': 'c2', 'iothub-app-__proto__': 'x' });
    assert.equal(props.component, 'c2');
    assert.equal(Object.getPrototypeOf(props.application), Object.prototype);
    assert.deepEqual(Object.keys(props.application), ['__proto__']);
  });

  it('[§4.2] a batch decodes each base64 body and its header-style properties', () => {
    const items = decodeD2cBatch([
      { body: 'eyJ0IjoxfQ==', properties: { 'dt-subject': 'thermostat1', 'iothub-app-p1': 'v1' } },
      { body: 'plain', base64Encoded: false },
    ]);
    assert.equal(text(items[0]!.body), '{"t":1}');
    assert.deepEqual(items[0]!.properties, { component: 'thermostat1', application: { p1: 'v1' } });
    assert.equal(text(items[1]!.body), 'plain');
  });

  it('[§4.2] malformed batches are refused with PROTOCOL_HTTP_BATCH_MALFORMED', () => {
    for (const bad of [
      {},
      [],
      [1],
      [{}],
      [{ body: '%%%' }],
      [{ body: 'YQ==', base64Encoded: 'yes' }],
      [{ body: 'YQ==', properties: [] }],
      [{ body: 'YQ==', properties: { k: 1 } }],
    ]) {
      assert.throws(
        () => decodeD2cBatch(bad),
        (e: unknown) => e instanceof ProtocolError && e.code === 'PROTOCOL_HTTP_BATCH_MALFORMED',
        JSON.stringify(bad),
      );
    }
  });

  it('[§4.3] a delivery becomes a quoted ETag and iothub-* headers; unsafe names and values are percent-encoded', () => {
    assert.deepEqual(
      c2dResponseHeaders({
        lockToken: 'l1',
        messageId: 'm1',
        to: '/devices/dev1/messages/deviceBound',
        ack: 'full',
        expiryTimeUtc: '2026-01-01T01:00:00.000Z',
        enqueuedTime: '2026-01-01T00:00:00.000Z',
        deliveryCount: 2,
        contentType: 'application/json',
        application: { color: 'red', 'naïve (x)': 'a\r\nb', empty: null },
      }),
      {
        etag: '"l1"',
        'iothub-messageid': 'm1',
        'iothub-to': '/devices/dev1/messages/deviceBound',
        'iothub-expiry': '2026-01-01T01:00:00.000Z',
        'iothub-ack': 'full',
        'iothub-enqueuedtime': '2026-01-01T00:00:00.000Z',
        'iothub-deliverycount': '2',
        'content-type': 'application/json',
        'iothub-app-color': 'red',
        'iothub-app-na%C3%AFve%20%28x%29': 'a%0D%0Ab',
        'iothub-app-empty': '',
      },
    );
  });
});
