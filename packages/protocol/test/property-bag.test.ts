import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeD2cProperties,
  ProtocolError,
  SYSTEM_PROPERTIES,
  c2dPropertyBag,
  decodePropertyBag,
  encodePropertyBag,
  splitD2cProperties,
} from '../src/index.js';
import type { PropertyBag } from '../src/index.js';

const CAPTURED_D2C_BAG =
  '%24.mid=mid-1&%24.cid=cid%2F1&%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=thermostat1&my%20prop=a%26b%3Dc';

describe('decodePropertyBag', () => {
  it('[MQTT §1.5] decodes the captured Node D2C property bag', () => {
    assert.deepEqual(decodePropertyBag(CAPTURED_D2C_BAG), [
      ['$.mid', 'mid-1'],
      ['$.cid', 'cid/1'],
      ['$.ct', 'application/json'],
      ['$.ce', 'utf-8'],
      ['$.sub', 'thermostat1'],
      ['my prop', 'a&b=c'],
    ]);
  });

  it('[MQTT §1.5] strips one trailing "/", maps "+" to space, bare key to null, "key=" to ""', () => {
    assert.deepEqual(decodePropertyBag(''), []);
    assert.deepEqual(decodePropertyBag('/'), []);
    assert.deepEqual(decodePropertyBag('a=1/'), [['a', '1']]);
    assert.deepEqual(decodePropertyBag('a=1//'), [['a', '1/']]);
    assert.deepEqual(decodePropertyBag('my+key=hello+world&flag&empty='), [
      ['my key', 'hello world'],
      ['flag', null],
      ['empty', ''],
    ]);
    assert.deepEqual(decodePropertyBag('a=b=c&&x=1'), [
      ['a', 'b=c'],
      ['x', '1'],
    ]);
  });

  it('[MQTT §1.5] rejects invalid percent-encoding with PROTOCOL_PROPERTY_BAG_MALFORMED', () => {
    for (const bag of ['a=%', 'a=%zz', '%E0%A4%A=1', 'a=%C0%80', 'flag%']) {
      assert.throws(
        () => decodePropertyBag(bag),
        (error: unknown) => error instanceof ProtocolError && error.code === 'PROTOCOL_PROPERTY_BAG_MALFORMED',
        bag,
      );
    }
  });

  it('[MQTT §1.5] never throws anything but ProtocolError (fuzz)', () => {
    const text = fc.string({ unit: fc.constantFrom('a', '=', '&', '%', '2', '4', 'F', '+', '/') });
    fc.assert(
      fc.property(fc.oneof(fc.string(), text), (bag) => {
        try {
          decodePropertyBag(bag);
        } catch (error) {
          assert.ok(error instanceof ProtocolError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('encodePropertyBag', () => {
  it('[MQTT §1.6] escapes "/", "&", "=", "+" and space; null is a bare key, "" is "key="', () => {
    assert.equal(
      encodePropertyBag([
        ['$.to', '/devices/dev1/messages/devicebound'],
        ['a&b', 'c=d+e f'],
        ['flag', null],
        ['empty', ''],
      ]),
      '%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound&a%26b=c%3Dd%2Be%20f&flag&empty=',
    );
    assert.equal(encodePropertyBag([]), '');
  });

  it('[MQTT §1.6] rejects an empty key', () => {
    assert.throws(() => encodePropertyBag([['', 'x']]), ProtocolError);
  });

  it('[MQTT §1.5-1.6] encode → decode round-trips and never emits "/", "#" or "+" (property)', () => {
    const bag: fc.Arbitrary<PropertyBag> = fc.array(
      fc.tuple(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 15 }),
        fc.option(fc.string({ unit: 'binary', maxLength: 15 }), { nil: null }),
      ),
      { maxLength: 6 },
    );
    fc.assert(
      fc.property(bag, (properties) => {
        const encoded = encodePropertyBag(properties);
        assert.doesNotMatch(encoded, /[/#+]/);
        assert.deepEqual(decodePropertyBag(encoded), properties);
      }),
      { numRuns: 300 },
    );
  });
});

describe('splitD2cProperties', () => {
  it('[MQTT §1.5] splits the captured bag into system and application properties', () => {
    assert.deepEqual(splitD2cProperties(decodePropertyBag(CAPTURED_D2C_BAG)), {
      messageId: 'mid-1',
      correlationId: 'cid/1',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      component: 'thermostat1',
      application: { 'my prop': 'a&b=c' },
    });
  });

  it('[MQTT §1.5] maps every system key, keeping unknown "$." keys as application properties', () => {
    const bag: PropertyBag = [
      [SYSTEM_PROPERTIES.messageId, 'm'],
      [SYSTEM_PROPERTIES.correlationId, 'c'],
      [SYSTEM_PROPERTIES.userId, 'u'],
      [SYSTEM_PROPERTIES.to, '/t'],
      [SYSTEM_PROPERTIES.contentType, 'application/json'],
      [SYSTEM_PROPERTIES.contentEncoding, 'utf-8'],
      [SYSTEM_PROPERTIES.expiryTimeUtc, '2030-01-01T00:00:00.000Z'],
      [SYSTEM_PROPERTIES.subject, 'comp'],
      [SYSTEM_PROPERTIES.interfaceId, 'urn:x'],
      [SYSTEM_PROPERTIES.outputName, 'out1'],
      [SYSTEM_PROPERTIES.creationTime, '2021-01-01T00:00:00Z'],
      ['$.other', 'kept'],
      ['flag', null],
    ];
    assert.deepEqual(splitD2cProperties(bag), {
      messageId: 'm',
      correlationId: 'c',
      userId: 'u',
      to: '/t',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      expiryTimeUtc: '2030-01-01T00:00:00.000Z',
      component: 'comp',
      interfaceId: 'urn:x',
      outputName: 'out1',
      creationTimeUtc: '2021-01-01T00:00:00Z',
      application: { '$.other': 'kept', flag: null },
    });
  });

  it('[MQTT §1.5] iothub-creation-time-utc wins over $.ctime and stays an application property', () => {
    const split = splitD2cProperties([
      ['$.ctime', '2020-01-01T00:00:00Z'],
      ['iothub-creation-time-utc', '2021-04-21T11:30:16Z'],
    ]);
    assert.equal(split.creationTimeUtc, '2021-04-21T11:30:16Z');
    assert.deepEqual(split.application, { 'iothub-creation-time-utc': '2021-04-21T11:30:16Z' });
  });

  it('[MQTT §1.5] a system key without a value is ignored; a repeated key keeps the last value', () => {
    assert.deepEqual(
      splitD2cProperties([
        ['$.mid', null],
        ['a', '1'],
        ['a', '2'],
      ]),
      { application: { a: '2' } },
    );
  });
});

describe('decodeD2cProperties (the one-pass telemetry decoder)', () => {
  const equivalent = (encoded: string): void => {
    let expected: unknown;
    let expectedError: unknown;
    try {
      expected = splitD2cProperties(decodePropertyBag(encoded));
    } catch (error) {
      expectedError = error;
    }
    if (expectedError !== undefined) {
      assert.throws(() => decodeD2cProperties(encoded), { code: 'PROTOCOL_PROPERTY_BAG_MALFORMED' });
    } else {
      assert.deepEqual(decodeD2cProperties(encoded), expected, encoded);
    }
  };

  it('[MQTT §1.5] decodes what the Node SDK sends for a Plug and Play message', () => {
    assert.deepEqual(
      decodeD2cProperties(
        '%24.ct=application%2Fjson&%24.ce=utf-8&iothub-creation-time-utc=2026-12-01T10%3A00%3A00.000Z',
      ),
      {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        creationTimeUtc: '2026-12-01T10:00:00.000Z',
        application: { 'iothub-creation-time-utc': '2026-12-01T10:00:00.000Z' },
      },
    );
  });

  it('[fuzz] gives exactly what splitD2cProperties(decodePropertyBag(...)) gives, errors included', () => {
    const key = fc.oneof(
      fc.constantFrom('$.mid', '$.cid', '$.uid', '$.to', '$.ct', '$.ce', '$.exp', '$.sub', '$.ifid', '$.on', '$.ctime'),
      fc.constantFrom('iothub-creation-time-utc', '__proto__', 'a b', 'x+y', '1', '0'),
      fc.string({ minLength: 1, maxLength: 8 }),
    );
    const bag = fc.array(fc.tuple(key, fc.option(fc.string({ maxLength: 12 }), { nil: null })), { maxLength: 6 });
    fc.assert(
      fc.property(bag, fc.boolean(), (items, slash) => equivalent(encodePropertyBag(items) + (slash ? '/' : ''))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (raw) => equivalent(raw)),
      { numRuns: 500 },
    );
    for (const raw of ['', '&&', '=', '=x', 'a==b', '%', '%2', 'a=%zz', '%24.ct', '%24.ct=', '+=+']) equivalent(raw);
  });
});

describe('c2dPropertyBag', () => {
  it('[MQTT §1.6] reproduces the captured C2D delivery bag', () => {
    const bag = c2dPropertyBag({
      messageId: 'm1',
      to: '/devices/dev1/messages/devicebound',
      ack: 'full',
      application: { myprop: 'hello w' },
    });
    assert.equal(
      encodePropertyBag(bag),
      '%24.mid=m1&%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound&iothub-ack=full&myprop=hello%20w',
    );
  });

  it('[MQTT §1.6] orders $.mid, $.to, $.cid, $.uid, $.ct, $.ce, $.exp, iothub-ack, then application', () => {
    const bag = c2dPropertyBag({
      application: { 'method-name': 'reboot', flag: null },
      ack: 'none',
      expiryTimeUtc: 'e',
      contentEncoding: 'ce',
      contentType: 'ct',
      userId: 'u',
      correlationId: 'c',
      to: 't',
      messageId: 'm',
    });
    assert.deepEqual(bag, [
      ['$.mid', 'm'],
      ['$.to', 't'],
      ['$.cid', 'c'],
      ['$.uid', 'u'],
      ['$.ct', 'ct'],
      ['$.ce', 'ce'],
      ['$.exp', 'e'],
      ['iothub-ack', 'none'],
      ['method-name', 'reboot'],
      ['flag', null],
    ]);
    assert.deepEqual(c2dPropertyBag({ application: {} }), []);
  });
});
