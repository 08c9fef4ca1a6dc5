import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PassThrough } from 'node:stream';
import { createLogger } from '../src/logger.js';
import { prettyLogDestination, prettyLogLine } from '../src/log-format.js';

it('[logs: pretty] a JSON line becomes time, level, message and key=value fields; secrets stay redacted', async () => {
  assert.equal(
    prettyLogLine(
      '{"level":30,"time":0,"pid":1,"hostname":"h","service":"plugboard","msg":"device connected","deviceId":"dev1","auth":"sas"}',
    ),
    '00:00:00.000 INFO  device connected  deviceId=dev1 auth=sas',
  );
  assert.equal(
    prettyLogLine('{"level":40,"time":0,"msg":"x","reason":"two words"}'),
    '00:00:00.000 WARN  x  reason="two words"',
  );
  assert.equal(prettyLogLine('not json'), 'not json');
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const logger = createLogger({ level: 'info', destination: prettyLogDestination(out) });
  logger.info({ code: 'HUB_UNAUTHORIZED', password: 'SharedAccessSignature sr=x&sig=secret' }, 'CONNECT refused');
  logger.flush();
  await new Promise((r) => setImmediate(r));
  assert.match(
    text,
    /^\d\d:\d\d:\d\d\.\d{3} INFO {2}CONNECT refused {2}code=HUB_UNAUTHORIZED password=\[redacted\]\n$/,
  );
  assert.doesNotMatch(text, /secret/);
});
