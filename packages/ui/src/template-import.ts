/**
 * A dropped or picked DTDL file as the device template the Central API's `PUT
 * /api/deviceTemplates/{id}` takes: a template export (`{"@type": ["ModelDefinition", "DeviceModel"],
 * "capabilityModel"}`) as it is; one Interface as the template's capability model; a list of Interfaces
 * (a model with its components' interfaces, as the model repository's expanded form) as the one no
 * other names as a component's schema, with those schemas inlined (../shared/reference/dtdl.md, IoT
 * Central templates). What cannot become a template is refused here with the reason, before anything
 * is sent; the server then validates the model itself.
 */

type Json = Record<string, unknown>;

/** A template ready to send: its id (a DTMI) and the body. */
export interface TemplateImport {
  id: string;
  body: Json;
}

/** Why a file cannot become a template. */
export class TemplateImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateImportError';
  }
}

const DTMI = /^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*;[1-9][0-9]{0,8}$/;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typesOf(item: Json): unknown[] {
  const type = item['@type'];
  return Array.isArray(type) ? type : [type];
}

const isInterface = (item: unknown): item is Json => isObject(item) && typesOf(item).includes('Interface');

function displayNameOf(model: Json, fallback: string): unknown {
  const name = model['displayName'];
  return typeof name === 'string' || isObject(name) ? name : fallback;
}

/** The component schemas (DTMIs) an interface names. */
function componentSchemas(model: Json): string[] {
  const contents = Array.isArray(model['contents']) ? model['contents'] : [];
  return contents
    .filter((c): c is Json => isObject(c) && typesOf(c).includes('Component') && typeof c['schema'] === 'string')
    .map((c) => c['schema'] as string);
}

/** `root` with each component schema found in `byId` inlined (without its own `@context`). */
function inlineComponents(root: Json, byId: Map<string, Json>): Json {
  if (!Array.isArray(root['contents'])) return root;
  const contents = root['contents'].map((c: unknown) => {
    if (!isObject(c) || !typesOf(c).includes('Component') || typeof c['schema'] !== 'string') return c;
    const found = byId.get(c['schema']);
    if (found === undefined) return c;
    const { '@context': _context, ...schema } = found;
    return { ...c, schema };
  });
  return { ...root, contents };
}

function fromInterface(model: Json, context: unknown): TemplateImport {
  const id = model['@id'];
  if (typeof id !== 'string' || !DTMI.test(id)) {
    throw new TemplateImportError('The interface needs an @id that is a DTMI (dtmi:<path>;<version>).');
  }
  const capabilityModel =
    model['@context'] === undefined && context !== undefined ? { '@context': context, ...model } : model;
  return {
    id,
    body: {
      '@type': ['ModelDefinition', 'DeviceModel'],
      displayName: displayNameOf(model, id.replace(/;\d+$/, '').split(':').at(-1) ?? id),
      capabilityModel,
    },
  };
}

/**
 * The template a DTDL file holds.
 *
 * @example
 * templateFromDtdl('{"@id":"dtmi:com:example:Thermostat;1","@type":"Interface","@context":"dtmi:dtdl:context;2"}');
 * // { id: 'dtmi:com:example:Thermostat;1', body: { '@type': ['ModelDefinition', 'DeviceModel'], displayName: 'Thermostat', capabilityModel: {…} } }
 * @throws {TemplateImportError} the text is not JSON, or holds no interface or template.
 */
export function templateFromDtdl(text: string): TemplateImport {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new TemplateImportError(`The file is not JSON: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  if (isObject(parsed) && isObject(parsed['capabilityModel'])) {
    const given = parsed['@id'];
    const modelId = parsed['capabilityModel']['@id'];
    const id = typeof given === 'string' ? given : modelId;
    if (typeof id !== 'string' || !DTMI.test(id)) {
      throw new TemplateImportError('The template needs an @id (or its capabilityModel one) that is a DTMI.');
    }
    const { etag: _etag, ...body } = parsed;
    return { id, body };
  }
  if (isInterface(parsed)) return fromInterface(parsed, undefined);
  if (Array.isArray(parsed)) {
    const interfaces = parsed.filter(isInterface);
    if (interfaces.length === 0) throw new TemplateImportError('The list holds no DTDL Interface.');
    const byId = new Map<string, Json>();
    for (const i of interfaces) if (typeof i['@id'] === 'string') byId.set(i['@id'], i);
    const named = new Set(interfaces.flatMap(componentSchemas));
    const roots = interfaces.filter((i) => typeof i['@id'] !== 'string' || !named.has(i['@id']));
    if (roots.length !== 1) {
      throw new TemplateImportError(
        `A template has one root interface; this list has ${roots.length} that no other uses as a component: ${roots
          .map((r) => String(r['@id']))
          .join(', ')}.`,
      );
    }
    const root = roots[0] as Json;
    return fromInterface(inlineComponents(root, byId), root['@context'] ?? interfaces[0]?.['@context']);
  }
  throw new TemplateImportError('The file holds neither a DTDL Interface, a list of them, nor a device template.');
}
