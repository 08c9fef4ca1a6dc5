/**
 * `bench/ui-load`: how long the web UI's device page takes to load and draw a day of telemetry — by
 * default 86,400 values, about one a second over the last 24 hours — in headless Chromium (Debian's `chromium`, driven
 * by `playwright-core`) on this machine. The platform runs in this process with one hub; one
 * application device with the Thermostat template gets the values over MQTT as the official SDK
 * sends them (QoS 1, the SDK's property bag, `iothub-creation-time-utc` spread over 23 h 45 min ending now),
 * then each trial reloads the device page and times it two ways: in the page, from its navigation to
 * the first frame painted with every value (the chart's `plugboard:chart-drawn` mark; what a user
 * waits), and by the harness, from the reload command to having seen that (adds the DevTools protocol
 * round trips and Playwright's polling).
 *
 * Then, with the day on the page, the device sends 10 values a second for `--live-seconds` (default 10): every
 * one must be drawn; the page's long tasks (over 50 ms) and frame gaps are reported.
 *
 * Usage: npm run bench:ui-load -- [--points 86400] [--trials 5] [--live-seconds 10] [--chromium /usr/bin/chromium] [--out results.json]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { createLogger, startPlatform } from '@plugboard/server';
import { UI_ROOT } from '@plugboard/ui';
import { machine } from '../common/machine.js';
import { median } from '../common/latency.js';
import { mintCredentials } from '../hub-ingest/credentials.js';
import { connectMqtt } from '../hub-ingest/mqtt-publisher.js';

const { values } = parseArgs({
  options: {
    points: { type: 'string', default: '86400' },
    trials: { type: 'string', default: '5' },
    'live-seconds': { type: 'string', default: '10' },
    chromium: { type: 'string', default: process.env['PLUGBOARD_CHROMIUM'] ?? '/usr/bin/chromium' },
    out: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'Usage: npm run bench:ui-load -- [--points 86400] [--trials 5] [--live-seconds 10] [--chromium /usr/bin/chromium] [--out results.json]\n',
  );
  process.exit(0);
}
const points = Number(values.points);
const trials = Number(values.trials);
const liveSeconds = Number(values['live-seconds']);
if (!Number.isInteger(liveSeconds) || liveSeconds < 0) throw new RangeError('--live-seconds must be an integer >= 0');
if (!Number.isInteger(points) || points < 1) throw new RangeError('--points must be a positive integer');
if (!Number.isInteger(trials) || trials < 1) throw new RangeError('--trials must be a positive integer');

const log = (line: string): void => void process.stderr.write(`[ui-load] ${line}\n`);
const DEVICE = 'bench-thermostat';
const TEMPLATE_ID = 'dtmi:plugboard:bench:thermostatTemplate;1';
const THERMOSTAT = JSON.parse(
  readFileSync(new URL('../../../shared/corpora/dtdl-spec/v2/samples/Thermostat.json', import.meta.url), 'utf8'),
) as unknown;

const dataDir = mkdtempSync(join(tmpdir(), 'plugboard-ui-load-'));
const platform = await startPlatform({
  dataDir,
  hubs: 1,
  loopbackPrefix: '127.93.7',
  ports: { mqtt: 0, amqp: 0, https: 0 },
  logger: createLogger({ level: 'warn' }),
  ui: { root: UI_ROOT },
});
const browser = await chromium.launch({
  executablePath: values.chromium,
  args: [
    '--no-sandbox',
    `--host-resolver-rules=MAP ${platform.centralEndpoint.hostName} ${platform.centralEndpoint.address}`,
  ],
});
try {
  const endpoint = platform.endpoints[0];
  if (endpoint === undefined) throw new Error('no hub started');
  const hub = endpoint.hub;
  await hub.createIdentity({ deviceId: DEVICE });
  await platform.central.templates.put(TEMPLATE_ID, { displayName: 'Thermostat', capabilityModel: THERMOSTAT });
  await platform.central.devices.put(DEVICE, { template: TEMPLATE_ID });
  const [credential] = await mintCredentials(hub.hostName, [DEVICE], (deviceId) => {
    const auth = hub.getIdentity({ deviceId }).record.authentication;
    if (auth.type !== 'sas') throw new Error(`${deviceId} is not a SAS identity`);
    return auth.symmetricKey.primaryKey;
  });
  if (credential === undefined) throw new Error('no credential');

  // A day of values ending now, spread over 23 h 45 min so that all of them are still within the page's
  // last-24-hours window when the trials run (at the default count, one every 0.99 s); the device keeps
  // 200 unacknowledged.
  const spacingMs = (24 * 3600_000 - 15 * 60_000) / points;
  log(`sending ${points} values over MQTT, one every ${(spacingMs / 1000).toFixed(3)} s of creation time`);
  const publisherOptions = {
    target: {
      host: endpoint.address,
      port: endpoint.mqttPort,
      caPath: platform.tls.caCertificatePath,
      hostName: hub.hostName,
    },
    ca: readFileSync(platform.tls.caCertificatePath),
    device: credential,
    shape: 'sdk',
    keepaliveSeconds: 60,
    onBroken: (error: Error) => {
      throw error;
    },
  } as const;
  const publisher = await connectMqtt(publisherOptions);
  const start = Date.now() - points * spacingMs;
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    const next = (): void => {
      while (sent < points && sent - acked < 200) {
        const i = sent++;
        const temperature = 20 + 5 * Math.sin(i / 600);
        publisher.send(JSON.stringify({ temperature }), new Date(start + i * spacingMs).toISOString(), (error) => {
          if (error !== undefined) return reject(error);
          if (++acked === points) resolve();
          else next();
        });
      }
    };
    next();
  });
  await publisher.close();
  for (let i = 0; platform.central.telemetry.counts(DEVICE).messages < points; i++) {
    if (i > 600) throw new Error('the application did not take every value within a minute');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // The server's own share: reading the series as the page does (10,000 values a page), in process.
  const readStart = performance.now();
  let pages = 0;
  for (let after: number | undefined = 0; after !== undefined; pages++) {
    const page = await platform.central.telemetry.series(DEVICE, undefined, 'temperature', { after, top: 10_000 });
    after = page.next;
  }
  const serverReadMs = performance.now() - readStart;
  log(
    `stored; the history reads in ${serverReadMs.toFixed(0)} ms in process (${pages} pages); loading the device page`,
  );

  const url = platform.manifest().ui?.url;
  if (url === undefined) throw new Error('the platform serves no UI');
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${url}#token=${encodeURIComponent(platform.central.adminToken)}`);
  await page.getByRole('heading', { name: 'Devices' }).waitFor();
  await page.evaluate((id) => void (location.hash = `#/devices/${id}`), DEVICE);
  const results: {
    pageMs: number;
    harnessMs: number;
    requests: number;
    fetchMs: number;
    firstRequestMs: number;
    afterLastMs: number;
  }[] = [];
  for (let trial = 0; trial <= trials; trial++) {
    const began = Date.now();
    await page.reload({ waitUntil: 'commit' });
    // The page's own figure: from its navigation to the first frame painted with every value, as the
    // chart marks it (plugboard:chart-drawn); the harness's wall clock adds the reload command and polling.
    const drawnAt = await page.waitForFunction(
      (n) =>
        performance
          .getEntriesByName('plugboard:chart-drawn')
          .map((m) => m as PerformanceMark)
          .find((m) => (m.detail as { points?: number } | null)?.points === n)?.startTime,
      points,
      { timeout: 120_000 },
    );
    const pageMs = (await drawnAt.jsonValue()) as number;
    const harnessMs = Date.now() - began;
    const fetches = await page.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((e) => e.name.includes('/telemetry/'))
        .map((e) => ({ start: e.startTime, end: e.responseEnd })),
    );
    const first = fetches.length === 0 ? 0 : Math.min(...fetches.map((f) => f.start));
    const last = fetches.length === 0 ? 0 : Math.max(...fetches.map((f) => f.end));
    const fetchMs = last - first;
    // From the navigation to the first history request (loading the page, the device and its
    // template), and from the last answer to the drawn chart (joining the pages, uPlot's drawing).
    const afterLastMs = pageMs - last;
    // The first load warms the browser's cache of the assets and the server's JIT: reported, not counted.
    log(
      `${trial === 0 ? 'warm-up' : `trial ${trial}`}: ${pageMs.toFixed(0)} ms in the page, ${harnessMs} ms by the harness ` +
        `(first history request at ${first.toFixed(0)} ms; ${fetches.length} requests over ${fetchMs.toFixed(0)} ms; ` +
        `drawn ${afterLastMs.toFixed(0)} ms after the last)`,
    );
    if (trial > 0) {
      results.push({ pageMs, harnessMs, requests: fetches.length, fetchMs, firstRequestMs: first, afterLastMs });
    }
  }
  // Live: the device sends 10 messages a second while the page shows the day; every value must be
  // drawn, and the page's main thread is watched for long tasks (over 50 ms) and late frames.
  let live:
    | {
        values: number;
        longTasks: number;
        longTaskMs: number;
        maxFrameGapMs: number;
        p99FrameGapMs: number;
        lastDrawnAfterMs: number;
      }
    | undefined;
  if (liveSeconds > 0) {
    // (A string: the bench's TypeScript loader would add helpers the page does not have.)
    await page.evaluate(`(() => {
      window.benchLongTasks = [];
      window.benchFrames = [];
      window.benchStop = false;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) window.benchLongTasks.push(entry.duration);
      }).observe({ type: 'longtask' });
      const frame = (t) => {
        window.benchFrames.push(t);
        if (!window.benchStop) requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    })()`);
    const livePublisher = await connectMqtt(publisherOptions);
    const count = liveSeconds * 10;
    let lastSentAt = 0;
    for (let i = 0; i < count; i++) {
      const due = Date.now() + 100;
      lastSentAt = Date.now();
      livePublisher.send(
        JSON.stringify({ temperature: 30 + (i % 10) }),
        new Date(lastSentAt).toISOString(),
        (error) => {
          if (error !== undefined) log(`live send failed: ${error.message}`);
        },
      );
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
    }
    const drawn = await page.waitForFunction(
      (n) => {
        const mark = performance
          .getEntriesByName('plugboard:chart-drawn')
          .map((m) => m as PerformanceMark)
          .find((m) => (m.detail as { points?: number } | null)?.points === n);
        return mark === undefined ? undefined : performance.timeOrigin + mark.startTime;
      },
      points + count,
      { timeout: 60_000 },
    );
    const drawnAtEpoch = (await drawn.jsonValue()) as number;
    await livePublisher.close();
    const watched = await page.evaluate(() => {
      const w = window as unknown as { benchLongTasks: number[]; benchFrames: number[]; benchStop: boolean };
      w.benchStop = true;
      const gaps = w.benchFrames.slice(1).map((t, i) => t - (w.benchFrames[i] as number));
      return { longTasks: w.benchLongTasks, gaps };
    });
    const gaps = [...watched.gaps].sort((a, b) => a - b);
    live = {
      values: count,
      longTasks: watched.longTasks.length,
      longTaskMs: watched.longTasks.reduce((sum, d) => sum + d, 0),
      maxFrameGapMs: gaps.at(-1) ?? 0,
      p99FrameGapMs: gaps[Math.floor(gaps.length * 0.99)] ?? 0,
      lastDrawnAfterMs: drawnAtEpoch - lastSentAt,
    };
    log(
      `live: ${count} values at 10/s over ${liveSeconds} s, all drawn; the last ${live.lastDrawnAfterMs.toFixed(0)} ms after it was sent; ` +
        `${live.longTasks} long tasks (${live.longTaskMs.toFixed(0)} ms); frame gaps p99 ${live.p99FrameGapMs.toFixed(0)} ms, max ${live.maxFrameGapMs.toFixed(0)} ms`,
    );
  }
  const report = {
    machine: machine(),
    points,
    live,
    trials: results,
    medianPageMs: median(results.map((r) => r.pageMs)),
    medianHarnessMs: median(results.map((r) => r.harnessMs)),
    medianHistoryFetchMs: median(results.map((r) => r.fetchMs)),
    serverReadMs,
  };
  process.stdout.write(
    `Machine: ${report.machine.cpu} x ${report.machine.cpus}, Node ${report.machine.node}; code ${report.machine.revision}\n` +
      `Device page with ${points} values: median ${report.medianPageMs.toFixed(0)} ms from navigation to drawn in the page ` +
      `(trials ${results.map((r) => r.pageMs.toFixed(0)).join(', ')}), ${report.medianHarnessMs} ms by the harness ` +
      `(trials ${results.map((r) => r.harnessMs).join(', ')}); history requests ${results[0]?.requests ?? 0}, ` +
      `median ${report.medianHistoryFetchMs.toFixed(0)} ms fetching them; the server reads the series in ${serverReadMs.toFixed(0)} ms in process\n` +
      (live === undefined
        ? ''
        : `Live at 10 values/s for ${liveSeconds} s: all ${live.values} drawn, the last ${live.lastDrawnAfterMs.toFixed(0)} ms after sent; ` +
          `${live.longTasks} long tasks (${live.longTaskMs.toFixed(0)} ms in all); frame gaps p99 ${live.p99FrameGapMs.toFixed(0)} ms, max ${live.maxFrameGapMs.toFixed(0)} ms\n`),
  );
  if (values.out !== undefined) writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
} finally {
  await browser.close();
  await platform.close();
  rmSync(dataDir, { recursive: true, force: true });
}
