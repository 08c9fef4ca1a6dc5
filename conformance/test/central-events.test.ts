/**
 * The application's live event stream (`GET /plugboard/events`, server-sent events): it outlives the
 * request time limit of the HTTPS listener (a watcher stays connected for minutes), carries telemetry
 * with its verdict, and ends when the platform closes instead of holding it open.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { describe, it } from 'node:test';
import { eventually, startTestPlatform, withTimeout } from './harness.js';

describe('[Central] live event stream', () => {
  it('stays open past the request time limit, streams events, and closes with the platform', async () => {
    const platform = await startTestPlatform({ limits: { httpRequestMs: 400, httpHeadersMs: 400 } });
    const endpoint = platform.centralEndpoint;
    let text = '';
    let ended = false;
    const response = new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: endpoint.address,
          servername: endpoint.hostName,
          port: endpoint.httpsPort,
          path: '/plugboard/events',
          headers: { host: endpoint.hostName, authorization: platform.central.adminToken },
          ca: readFileSync(platform.tls.caCertificatePath, 'utf8'),
        },
        (res) => {
          resolve(res.statusCode ?? 0);
          res.setEncoding('utf8').on('data', (c: string) => (text += c));
          res.on('close', () => (ended = true));
        },
      );
      req.on('error', reject);
      req.end();
    });
    try {
      assert.equal(await response, 200);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(ended, false, 'open after three request time limits');
      await platform.central.devices.put('watched-1', {});
      // A connection event of an application device reaches the watcher.
      platform.events.emit({
        type: 'disconnected',
        hub: platform.hubs[0]!.name,
        identity: { deviceId: 'watched-1' },
        reason: 'test',
      });
      await eventually(() => (text.includes('event: disconnected') ? true : undefined));
      assert.match(text, /"deviceId":"watched-1"/);
    } finally {
      await withTimeout(platform.dispose(), 10_000, 'closing the platform with a watcher connected');
    }
    await eventually(() => (ended ? true : undefined));
  });
});
