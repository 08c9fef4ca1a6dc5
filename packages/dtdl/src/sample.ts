/**
 * A valid example value for any schema of a model — what a tool sends when it has to exercise a
 * writable property or a command without knowing more than the model (`plugboard device check`, the
 * simulator): a fixed, deterministic value of each primitive, the first value of an Enum, every field of
 * an Object, one element of an Array, one entry of a Map. The value always validates against its schema
 * with {@link validateValue}.
 */
import { DtdlError } from './errors.js';
import type { DtdlModel } from './model.js';

const PRIMITIVES: Readonly<Record<string, unknown>> = {
  boolean: true,
  string: 'plugboard',
  double: 21.5,
  float: 21.5,
  integer: 7,
  long: 7,
  date: '2026-01-01',
  dateTime: '2026-01-01T00:00:00.000Z',
  time: '12:00:00Z',
  duration: 'PT1M',
};

const GEO: Readonly<Record<string, unknown>> = {
  point: { type: 'Point', coordinates: [0, 0] },
  multiPoint: { type: 'MultiPoint', coordinates: [[0, 0]] },
  lineString: {
    type: 'LineString',
    coordinates: [
      [0, 0],
      [1, 1],
    ],
  },
  multiLineString: {
    type: 'MultiLineString',
    coordinates: [
      [
        [0, 0],
        [1, 1],
      ],
    ],
  },
  polygon: {
    type: 'Polygon',
    coordinates: [
      [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 0],
      ],
    ],
  },
  multiPolygon: {
    type: 'MultiPolygon',
    coordinates: [
      [
        [
          [0, 0],
          [1, 0],
          [1, 1],
          [0, 0],
        ],
      ],
    ],
  },
};

/**
 * An example value of the schema with DTMI `schemaId` (a primitive such as
 * `dtmi:dtdl:instance:Schema:double;2`, or an Enum/Object/Map/Array element of the model).
 *
 * @example
 * sampleValue(model, 'dtmi:dtdl:instance:Schema:double;2'); // 21.5
 * sampleValue(model, 'dtmi:com:example:Thermostat:getMaxMinReport:response;1'); // { maxTemp: 21.5, … }
 */
export function sampleValue(model: DtdlModel, schemaId: string, depth = 0): unknown {
  if (depth > 32) throw new DtdlError('DTDL_INVALID_ARGUMENT', `Schema ${schemaId} nests too deeply for an example.`);
  const primitive = /^dtmi:dtdl:instance:Schema:(\w+);[23]$/.exec(schemaId)?.[1];
  if (primitive !== undefined && primitive in PRIMITIVES) return PRIMITIVES[primitive];
  const geo = /^dtmi:standard:schema:geospatial:(\w+);[23]$/.exec(schemaId)?.[1];
  if (geo !== undefined && geo in GEO) return GEO[geo];
  if (schemaId === 'dtmi:iotcentral:schema:vector;2') return { x: 0, y: 0, z: 1 };
  if (schemaId === 'dtmi:iotcentral:schema:geopoint;2') return { lon: 0, lat: 0, alt: 0 };
  const schema = model.get(schemaId);
  switch (schema?.kind) {
    case 'Enum':
      return model.get(schema.enumValues?.[0] ?? '')?.enumValue;
    case 'Object': {
      const out: Record<string, unknown> = {};
      for (const id of schema.fields ?? []) {
        const field = model.get(id);
        if (field?.name !== undefined && field.schema !== undefined) {
          out[field.name] = sampleValue(model, field.schema, depth + 1);
        }
      }
      return out;
    }
    case 'Array':
      return [sampleValue(model, schema.elementSchema ?? '', depth + 1)];
    case 'Map': {
      const value = schema.mapValue === undefined ? undefined : model.get(schema.mapValue);
      return { key1: sampleValue(model, value?.schema ?? '', depth + 1) };
    }
    default:
      throw new DtdlError('DTDL_INVALID_ARGUMENT', `${schemaId} is not a schema of the model.`);
  }
}
