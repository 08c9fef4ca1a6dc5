/**
 * What every rule of `plugboard device check` works with: the REST client, the device, its template's
 * parsed model (what it should announce, send, report and answer), the time limits, a progress line
 * sink, and the small waiting and sampling helpers the rules share.
 */
import { parse, sampleValue, type DtdlModel, type ModelElement } from '@plugboard/dtdl';
import { templateDocuments, type JsonObject } from '@plugboard/server';
import type { CentralClient, JsonRecord } from '../central-client.js';
import { CliError } from '../client.js';

/** Time limits (seconds), all configurable from the command line. */
export interface CheckLimits {
  /** How long telemetry is watched for. */
  telemetrySeconds: number;
  /** How long a device has to acknowledge a writable property or answer a command. */
  responseSeconds: number;
  /** How long a device has to reconnect (or go back to DPS) after a fault or failover. */
  recoverySeconds: number;
  /** How long a back-off fault lasts while its retries are watched. */
  faultSeconds: number;
}

/** A writable or read-only property, or a command, of the device's template. */
export interface Capability {
  /** The component it is in (absent: the root). */
  component?: string;
  name: string;
  element: ModelElement;
}

/** The context of one run. */
export interface CheckContext {
  client: CentralClient;
  deviceId: string;
  limits: CheckLimits;
  /** The template's model and capability model id, when the device has a template the CLI can read. */
  model?: DtdlModel;
  modelId?: string;
  /** When the run started (epoch ms). */
  startedAt: number;
  progress(line: string): void;
}

/**
 * Parses a template body's capability model as the application does (templateDocuments: its context,
 * edge modules lifted out; components inline, as Central keeps them).
 */
export function templateModel(template: JsonRecord): { model: DtdlModel; modelId: string } | undefined {
  const given = template['capabilityModel'] as JsonRecord | undefined;
  if (given === undefined || typeof given['@id'] !== 'string') return undefined;
  let documents;
  try {
    documents = templateDocuments(template as JsonObject);
  } catch {
    return undefined;
  }
  const result = parse([documents.capabilityModel, ...documents.documents]);
  return result.model === undefined ? undefined : { model: result.model, modelId: given['@id'] };
}

/** The capabilities of `kind` in the root interface and its components. */
export function capabilities(ctx: CheckContext, kind: 'Property' | 'Command' | 'Telemetry'): Capability[] {
  if (ctx.model === undefined || ctx.modelId === undefined) return [];
  const model = ctx.model;
  const out: Capability[] = [];
  const visit = (interfaceId: string, component: string | undefined): void => {
    for (const [name, id] of Object.entries(model.get(interfaceId)?.contents ?? {})) {
      const element = model.get(id);
      if (element === undefined) continue;
      if (element.kind === kind) out.push({ ...(component === undefined ? {} : { component }), name, element });
      if (element.kind === 'Component' && component === undefined && element.schema !== undefined) {
        visit(element.schema, name);
      }
    }
  };
  visit(ctx.modelId, undefined);
  return out;
}

/** `thermostat1.targetTemperature` or `targetTemperature`. */
export function capabilityName(c: Capability): string {
  return c.component === undefined ? c.name : `${c.component}.${c.name}`;
}

/**
 * The body that runs command `c` (a command of `ctx.model`): an example request of its schema, and the
 * response timeout of the run's limits (within Central's 5–30 s).
 */
export function commandBody(ctx: CheckContext, c: Capability): JsonRecord {
  const body: JsonRecord = { responseTimeout: Math.max(5, Math.min(30, ctx.limits.responseSeconds)) };
  const requestSchema = c.element.request === undefined ? undefined : ctx.model?.get(c.element.request)?.schema;
  if (requestSchema !== undefined && ctx.model !== undefined) body['request'] = sampleValue(ctx.model, requestSchema);
  return body;
}

/** Polls `probe` every 250 ms until it answers a value, or resolves undefined after `seconds`. */
export async function waitFor<T>(seconds: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The device's last timeline sequence number (entries after it are new). */
export async function timelineMark(ctx: CheckContext): Promise<number> {
  const { value } = await ctx.client.timeline(ctx.deviceId);
  return value.reduce((n, e) => Math.max(n, Number(e['sequence'])), 0);
}

/** Whether the device is connected now. */
export async function connected(ctx: CheckContext): Promise<boolean> {
  return (await ctx.client.deviceDetails(ctx.deviceId))['connected'] === true;
}

/** Loads the device and its template into a context. */
export async function openContext(
  client: CentralClient,
  deviceId: string,
  limits: CheckLimits,
  progress: (line: string) => void,
): Promise<CheckContext> {
  const details = await client.deviceDetails(deviceId);
  const ctx: CheckContext = { client, deviceId: String(details['id']), limits, startedAt: Date.now(), progress };
  if (typeof details['template'] === 'string') {
    const parsed = templateModel(await client.getTemplate(details['template']));
    if (parsed === undefined) {
      throw new CliError('CLI_REQUEST_FAILED', `The template ${details['template']} could not be read as DTDL here.`);
    }
    ctx.model = parsed.model;
    ctx.modelId = parsed.modelId;
  }
  return ctx;
}
