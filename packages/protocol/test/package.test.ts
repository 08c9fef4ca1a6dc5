import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { PROTOCOL_ERROR_CODES, ProtocolError } from '../src/index.js';

const srcDir = new URL('../src/', import.meta.url);

describe('@plugboard/protocol package', () => {
  it('[STYLE:pure] src imports no node: modules and uses no Buffer or console', () => {
    for (const file of readdirSync(srcDir)) {
      // Comments may mention what the code avoids; only code counts.
      const text = readFileSync(new URL(file, srcDir), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, '');
      assert.doesNotMatch(text, /from ['"]node:|import\(['"]node:|require\(/, file);
      assert.doesNotMatch(text, /\bBuffer\b|\bconsole\./, file);
    }
  });

  it('[STYLE:errors] ProtocolError carries its code, name and cause', () => {
    const cause = new URIError('bad');
    const error = new ProtocolError('PROTOCOL_TOPIC_MALFORMED', 'nope', { cause });
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'ProtocolError');
    assert.equal(error.code, 'PROTOCOL_TOPIC_MALFORMED');
    assert.equal(error.message, 'nope');
    assert.equal(error.cause, cause);
    assert.equal(new ProtocolError('PROTOCOL_SAS_MALFORMED', 'x').cause, undefined);
    assert.deepEqual(
      [...PROTOCOL_ERROR_CODES],
      [
        'PROTOCOL_SAS_MALFORMED',
        'PROTOCOL_CONNECTION_STRING_MALFORMED',
        'PROTOCOL_USERNAME_MALFORMED',
        'PROTOCOL_PROPERTY_BAG_MALFORMED',
        'PROTOCOL_TOPIC_MALFORMED',
        'PROTOCOL_JSON_MALFORMED',
        'PROTOCOL_JSON_TOO_LARGE',
        'PROTOCOL_JSON_TOO_DEEP',
        'PROTOCOL_JSON_TOO_MANY_KEYS',
        'PROTOCOL_JSON_FORBIDDEN_KEY',
        'PROTOCOL_HTTP_BATCH_MALFORMED',
      ],
    );
  });
});
