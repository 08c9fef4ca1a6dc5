/**
 * The modules of an IoT Edge device template, in the form IoT Central writes them: a Relationship
 * co-typed `EdgeModule` in the capability model, named as the module (its hub module id), whose
 * `target` holds the module's capability model inline — `"target": [{"@id": …, "@type": "Interface",
 * …}]`. Standard DTDL allows only Interface DTMIs in `target`, so the inline interfaces are lifted out
 * as documents of their own and the target left as their ids; the DTDL parser then checks them like
 * any other interface. Pure.
 */
import { isValidDtmi } from '@plugboard/dtdl';
import type { JsonObject, JsonValue } from '../core/model.js';

/** One module of a template. */
export interface EdgeModuleDefinition {
  /** The relationship's `name`: the module id the module connects with. */
  name: string;
  displayName?: JsonValue;
  description?: JsonValue;
  /** The DTMI of the module's capability model (an Interface of the template's model). */
  interfaceId: string;
}

/** A capability model with its edge modules lifted out. */
export interface SplitCapabilityModel {
  /** The capability model with every EdgeModule target as DTMIs. */
  capabilityModel: JsonObject;
  /** The module interfaces that were inline, as top-level documents with `context`. */
  documents: JsonObject[];
  modules: EdgeModuleDefinition[];
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether a content item is a Relationship co-typed `EdgeModule`. */
export function isEdgeModule(item: unknown): item is JsonObject {
  if (!isObject(item)) return false;
  const types = [item['@type']].flat();
  return types.includes('Relationship') && types.includes('EdgeModule');
}

/**
 * Lifts the inline module interfaces out of `capabilityModel`; `context` is the `@context` they are
 * given (the one the capability model is read with). Throws a `TypeError` naming the module when a
 * target is neither a DTMI nor an Interface with an `@id` DTMI.
 *
 * @example
 * const split = splitEdgeModules({ '@id': 'dtmi:c:gw;1', '@type': 'Interface', contents: [
 *   { '@type': ['Relationship', 'EdgeModule'], name: 'filter',
 *     target: [{ '@id': 'dtmi:c:filter;1', '@type': 'Interface', contents: [] }] } ] }, 'dtmi:dtdl:context;2');
 * split.modules;   // [{ name: 'filter', interfaceId: 'dtmi:c:filter;1' }]
 * split.documents; // [{ '@context': 'dtmi:dtdl:context;2', '@id': 'dtmi:c:filter;1', '@type': 'Interface', contents: [] }]
 */
export function splitEdgeModules(capabilityModel: JsonObject, context: JsonValue): SplitCapabilityModel {
  const contents = capabilityModel['contents'];
  if (!Array.isArray(contents) || !contents.some(isEdgeModule)) {
    return { capabilityModel, documents: [], modules: [] };
  }
  const documents: JsonObject[] = [];
  const modules: EdgeModuleDefinition[] = [];
  const lifted = contents.map((item) => {
    if (!isEdgeModule(item)) return item;
    const name = typeof item['name'] === 'string' ? item['name'] : '';
    const targets = item['target'] === undefined ? [] : [item['target']].flat();
    const ids = targets.map((target) => {
      if (typeof target === 'string' && isValidDtmi(target)) return target;
      if (isObject(target) && typeof target['@id'] === 'string' && isValidDtmi(target['@id'])) {
        documents.push({ '@context': context, ...target });
        return target['@id'];
      }
      throw new TypeError(
        `The target of edge module ${JSON.stringify(name)} must be the module's capability model: an Interface with an @id DTMI, or its DTMI.`,
      );
    });
    if (ids.length !== 1) {
      throw new TypeError(
        `Edge module ${JSON.stringify(name)} needs exactly one target: the module's capability model.`,
      );
    }
    const module: EdgeModuleDefinition = { name, interfaceId: ids[0]! };
    if (item['displayName'] !== undefined) module.displayName = item['displayName'];
    if (item['description'] !== undefined) module.description = item['description'];
    modules.push(module);
    return { ...item, target: ids[0]! };
  });
  return { capabilityModel: { ...capabilityModel, contents: lifted }, documents, modules };
}
