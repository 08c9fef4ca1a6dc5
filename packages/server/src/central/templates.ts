/**
 * Device templates of a Central application: the template body of protocol.md §7.7 —
 * `{"@id", "@type": ["ModelDefinition", "DeviceModel"], "displayName", "capabilityModel": <DTDL
 * Interface>}` — checked with `@plugboard/dtdl` (DTDL v2 with the IoT Central extension, or v3;
 * components defined inline or found through a resolver), stored as given so that an export returns
 * what was imported, with an etag. A device is assigned the template whose capability model id it
 * announces.
 */
import { createHash } from 'node:crypto';
import { isValidDtmi, parse, parseWithResolver, type DtdlModel, type DtmiResolver } from '@plugboard/dtdl';
import { parseIfMatch, ifMatchHolds } from '@plugboard/protocol';
import type { JsonObject, JsonValue } from '../core/model.js';
import type { Storage } from '../storage/port.js';
import { splitEdgeModules, type EdgeModuleDefinition, type SplitCapabilityModel } from './edge-modules.js';
import { CentralError } from './errors.js';

/** A stored template: the body as imported (with `@id`), its etag and the parsed capability model. */
interface StoredTemplate {
  body: JsonObject;
  etag: string;
  /** The referenced documents found when it was imported (components from a model repository). */
  dependencies?: unknown[];
}

/** A template with its parsed model, for validation of what devices send. */
export interface DeviceTemplate {
  id: string;
  /** The DTMI of the capability model: devices announcing it are assigned this template. */
  modelId: string;
  body: JsonObject;
  etag: string;
  model: DtdlModel;
  /** The IoT Edge modules of the template (its `EdgeModule` relationships), in model order. */
  modules: EdgeModuleDefinition[];
}

const KIND = 'central-template';
const MAX_TEMPLATES_PAGE = 100;
/** The context IoT Central reads a capability model with when neither it nor the template names one. */
const CENTRAL_CONTEXT: JsonValue = ['dtmi:iotcentral:context;2', 'dtmi:dtdl:context;2'];

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function etagOf(body: JsonObject): string {
  return `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 22)}"`;
}

/**
 * The documents the capability model of template `body` is parsed from: the model with the context it
 * is read with — its own `@context`, else the template's, else IoT Central's (`capabilityModel`
 * inherits the envelope's, dtdl.md §3.3) — and its edge modules' inline interfaces lifted out
 * (edge-modules.ts). Pure; throws a `TypeError` for an edge module whose target is not an interface.
 *
 * @example
 * const { capabilityModel, documents } = templateDocuments(template);
 * parse([capabilityModel, ...documents]);
 */
export function templateDocuments(body: JsonObject): SplitCapabilityModel {
  const given = body['capabilityModel'] as JsonObject;
  const context = given['@context'] ?? body['@context'] ?? CENTRAL_CONTEXT;
  return splitEdgeModules({ ...given, '@context': context }, context);
}

/**
 * Parses the capability model of template `body` with the documents it references: `known` ones
 * (stored with the template) first, then what the resolver finds. The model is read with its own
 * `@context`, else the template's, else IoT Central's (`capabilityModel` inherits the envelope's, dtdl.md
 * §3.3), and its edge modules' inline interfaces are lifted out (edge-modules.ts). Answers the model,
 * the modules and every referenced document it used, so the template can be parsed again without the
 * resolver (after a restart without the model repository).
 */
async function parseCapabilityModel(
  body: JsonObject,
  resolver: DtmiResolver | undefined,
  known: readonly unknown[] = [],
): Promise<{ model: DtdlModel; modules: EdgeModuleDefinition[]; dependencies: unknown[] }> {
  let split;
  try {
    split = templateDocuments(body);
  } catch (cause) {
    throw new CentralError('CENTRAL_INVALID_MODEL', (cause as Error).message, { cause });
  }
  const { capabilityModel, documents, modules } = split;
  const fetched: unknown[] = [];
  const recording: DtmiResolver | undefined =
    resolver === undefined
      ? undefined
      : async (dtmis, options) => {
          const found = await resolver(dtmis, options);
          fetched.push(...found);
          return found;
        };
  let result;
  try {
    result =
      recording === undefined
        ? parse([capabilityModel, ...documents, ...known])
        : await parseWithResolver([capabilityModel, ...documents, ...known], {
            resolver: recording,
            timeoutMs: 10_000,
          });
  } catch (cause) {
    throw new CentralError('CENTRAL_INVALID_MODEL', `The capability model could not be resolved: ${String(cause)}`, {
      cause,
    });
  }
  if (result.ok && result.model !== undefined) {
    const model = result.model;
    for (const module of modules) {
      if (model.get(module.interfaceId)?.kind !== 'Interface') {
        throw new CentralError(
          'CENTRAL_INVALID_MODEL',
          `Edge module ${module.name} targets ${module.interfaceId}, which the template does not define: put the module's capability model inline in the target.`,
        );
      }
    }
    return { model, modules, dependencies: [...known, ...fetched] };
  }
  if (result.errors.length > 0) {
    const first = result.errors[0]!;
    throw new CentralError(
      'CENTRAL_INVALID_MODEL',
      `The capability model is not valid DTDL: ${first.message} (${first.code}${first.location === undefined ? '' : ` at ${first.location.pointer}`})${result.errors.length > 1 ? `, and ${result.errors.length - 1} more` : ''}.`,
    );
  }
  throw new CentralError(
    'CENTRAL_INVALID_MODEL',
    `The capability model references ${result.unresolved.join(', ')}, which it does not define${resolver === undefined ? ' (define components inline, or start Plugboard with a model repository)' : ' and the model repository does not hold'}.`,
  );
}

/** The interface a device's (or one of its modules') capabilities are read from, with the model it is in. */
export interface CapabilityScope {
  /** The DTMI of the Interface: the template's capability model, or an edge module's. */
  modelId: string;
  model: DtdlModel;
}

/**
 * The capability scope of a device with `template` (`module` undefined), or of its edge module
 * `module`; `CENTRAL_NOT_FOUND` when the template has no module of that name.
 *
 * @example
 * capabilityScope(template, 'filter').modelId; // 'dtmi:com:example:FilterModule;1'
 */
export function capabilityScope(template: DeviceTemplate, module: string | undefined): CapabilityScope {
  if (module === undefined) return { modelId: template.modelId, model: template.model };
  const found = template.modules.find((m) => m.name === module);
  if (found === undefined) {
    throw new CentralError('CENTRAL_NOT_FOUND', `Device template ${template.id} has no module ${module}.`);
  }
  return { modelId: found.interfaceId, model: template.model };
}

/**
 * The device templates of one application.
 *
 * @example
 * const templates = await DeviceTemplates.open({ storage });
 * await templates.put('dtmi:com:example:Thermostat;1', { displayName: 'Thermostat', capabilityModel });
 */
export class DeviceTemplates {
  readonly #storage: Storage;
  readonly #resolver: DtmiResolver | undefined;
  readonly #templates = new Map<string, DeviceTemplate>();

  private constructor(storage: Storage, resolver: DtmiResolver | undefined) {
    this.#storage = storage;
    this.#resolver = resolver;
  }

  /** Loads the stored templates (parsing each again). */
  static async open(options: { storage: Storage; resolver?: DtmiResolver }): Promise<DeviceTemplates> {
    const templates = new DeviceTemplates(options.storage, options.resolver);
    for (const [id, stored] of (await options.storage.loadDocuments(KIND)) as Map<string, StoredTemplate>) {
      const { model, modules } = await parseCapabilityModel(stored.body, options.resolver, stored.dependencies ?? []);
      templates.#templates.set(id, {
        id,
        modelId: String((stored.body['capabilityModel'] as JsonObject)['@id']),
        body: stored.body,
        etag: stored.etag,
        model,
        modules,
      });
    }
    return templates;
  }

  /**
   * Creates or replaces template `id`. The body is checked: `@id` (if given) equals `id`, `@type` names
   * a device model, `displayName` is text, `capabilityModel` is a valid DTDL Interface whose `@id` no
   * other template uses. `ifMatch` guards a replacement.
   */
  async put(id: string, input: unknown, ifMatch?: string): Promise<DeviceTemplate> {
    if (!isValidDtmi(id)) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        `Template id ${JSON.stringify(id)} is not a DTMI (dtmi:<path>;<version>).`,
      );
    }
    if (!isObject(input)) throw new CentralError('CENTRAL_BAD_REQUEST', 'The template must be a JSON object.');
    if (input['@id'] !== undefined && input['@id'] !== id) {
      throw new CentralError('CENTRAL_BAD_REQUEST', '@id in the body does not match the template id in the URL.');
    }
    const types = input['@type'] === undefined ? ['ModelDefinition', 'DeviceModel'] : [input['@type']].flat();
    if (!types.includes('ModelDefinition') || !types.includes('DeviceModel')) {
      throw new CentralError('CENTRAL_BAD_REQUEST', '@type must be ["ModelDefinition", "DeviceModel"].');
    }
    const displayName = input['displayName'];
    if (displayName !== undefined && typeof displayName !== 'string' && !isObject(displayName)) {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'displayName must be a string (or a language map).');
    }
    const capabilityModel = input['capabilityModel'];
    if (!isObject(capabilityModel)) {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'capabilityModel must be a DTDL Interface object.');
    }
    const modelId = capabilityModel['@id'];
    if (typeof modelId !== 'string' || !isValidDtmi(modelId)) {
      throw new CentralError('CENTRAL_INVALID_MODEL', 'capabilityModel needs an @id that is a DTMI.');
    }
    const { model, modules, dependencies } = await parseCapabilityModel(input, this.#resolver);
    const previous = this.#templates.get(id);
    if (
      ifMatch !== undefined &&
      !ifMatchHolds(parseIfMatch(ifMatch, { allowUnquoted: true }), previous?.etag.replace(/"/g, ''))
    ) {
      throw new CentralError('CENTRAL_PRECONDITION_FAILED', 'The etag does not match; read the template again.');
    }
    for (const other of this.#templates.values()) {
      if (other.id !== id && other.modelId === modelId) {
        throw new CentralError(
          'CENTRAL_CONFLICT',
          `Template ${other.id} already has the capability model ${modelId}: a model id selects one template.`,
        );
      }
    }
    const { etag: _etag, ...rest } = input;
    const body: JsonObject = { ...rest, '@id': id, '@type': types as JsonValue[] };
    const template: DeviceTemplate = { id, modelId, body, etag: etagOf(body), model, modules };
    await this.#storage.saveDocument(KIND, id, {
      body,
      etag: template.etag,
      ...(dependencies.length === 0 ? {} : { dependencies }),
    } satisfies StoredTemplate);
    this.#templates.set(id, template);
    return template;
  }

  /** A template, or `CENTRAL_NOT_FOUND`. */
  get(id: string): DeviceTemplate {
    const template = this.#templates.get(id);
    if (template === undefined) throw new CentralError('CENTRAL_NOT_FOUND', `Device template ${id} does not exist.`);
    return template;
  }

  /** The template whose capability model is `modelId`, if any. */
  forModel(modelId: string): DeviceTemplate | undefined {
    for (const template of this.#templates.values()) if (template.modelId === modelId) return template;
    return undefined;
  }

  /**
   * Makes a template for `modelId` from the model repository (as Central generates one from the public
   * repository when a device announces a model no template has), its components' interfaces inline. False when there is no repository or
   * it does not hold a valid model of that id.
   */
  async fromRepository(modelId: string): Promise<boolean> {
    if (this.#resolver === undefined || !isValidDtmi(modelId) || this.forModel(modelId) !== undefined) return false;
    const capabilityModel = await this.#fetch(modelId);
    if (capabilityModel === undefined) return false;
    // Components inline, as IoT Central builds templates (and as `az iot central device-template show`
    // expects: a Component's `schema` with its `contents`).
    const contents = Array.isArray(capabilityModel['contents']) ? capabilityModel['contents'] : [];
    const inlined: JsonValue[] = [];
    // An interface is defined once: a second component of the same schema refers to the first by id.
    const seen = new Set<string>();
    for (const item of contents) {
      const types = isObject(item) ? [item['@type']].flat() : [];
      const schema = isObject(item) ? item['schema'] : undefined;
      if (!types.includes('Component') || typeof schema !== 'string' || !isObject(item) || seen.has(schema)) {
        inlined.push(item);
        continue;
      }
      const resolved = await this.#fetch(schema);
      if (resolved === undefined) {
        inlined.push(item);
        continue;
      }
      seen.add(schema);
      const { '@context': _context, ...componentInterface } = resolved;
      inlined.push({ ...item, schema: componentInterface });
    }
    const name = capabilityModel['displayName'];
    try {
      await this.put(modelId, {
        displayName: typeof name === 'string' || isObject(name) ? name : modelId,
        capabilityModel: { ...capabilityModel, contents: inlined },
      });
      return true;
    } catch {
      return false;
    }
  }

  /** The Interface document of `dtmi` from the model repository, if it holds one. */
  async #fetch(dtmi: string): Promise<JsonObject | undefined> {
    if (this.#resolver === undefined) return undefined;
    let documents: readonly unknown[];
    try {
      documents = await this.#resolver([dtmi], { signal: AbortSignal.timeout(10_000) });
    } catch {
      return undefined;
    }
    return documents
      .map((d): unknown => {
        // Resolvers answer with JSON text (as fetched) or parsed documents.
        if (typeof d !== 'string') return d;
        try {
          return JSON.parse(d) as unknown;
        } catch {
          return undefined;
        }
      })
      .flatMap((d) => (Array.isArray(d) ? (d as unknown[]) : [d]))
      .find((d): d is JsonObject => isObject(d) && d['@id'] === dtmi);
  }

  /** A page of templates in id order, after `after` (the last id of the previous page). */
  list(options: { top?: number; after?: string } = {}): { templates: DeviceTemplate[]; more: boolean } {
    const top = Math.min(options.top ?? MAX_TEMPLATES_PAGE, MAX_TEMPLATES_PAGE);
    const sorted = [...this.#templates.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const start = options.after === undefined ? 0 : sorted.findIndex((t) => t.id > options.after!);
    const from = start < 0 ? sorted.length : start;
    return { templates: sorted.slice(from, from + top), more: from + top < sorted.length };
  }

  /** Deletes a template; `inUse` says whether devices are assigned to it (then `CENTRAL_CONFLICT`). */
  async delete(id: string, inUse: (templateId: string) => boolean = () => false): Promise<void> {
    this.get(id);
    if (inUse(id)) {
      throw new CentralError(
        'CENTRAL_CONFLICT',
        `Device template ${id} is assigned to devices; migrate or delete them first.`,
      );
    }
    await this.#storage.deleteDocument(KIND, id);
    this.#templates.delete(id);
  }

  /** The REST view of a template: the body as stored, with its etag. */
  view(template: DeviceTemplate): JsonObject {
    return { ...template.body, etag: template.etag };
  }
}
