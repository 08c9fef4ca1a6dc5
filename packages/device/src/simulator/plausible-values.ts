/**
 * Plausible values for a simulated device: each telemetry or property of a DTDL model gets a value that
 * looks like what a real device sends — a temperature in °C drifts around 20, a relative humidity around
 * 45 %, a battery level slowly falls, a working set in KiB sits in the hundreds of thousands — chosen
 * from the capability's semantic type and unit, not random doubles. Each capability of each device keeps
 * its own random walk, seeded, so runs are reproducible. Non-numeric schemas get valid values too: enum
 * values, object fields, maps, arrays, dates, geopoints.
 */

import { sampleValue, type DtdlModel, type ModelElement } from '@plugboard/dtdl';

/** A numeric signal: where it sits, how far it wanders, its bounds, and whether it only drifts down. */
interface Signal {
  base: number;
  spread: number;
  min: number;
  max: number;
  /** Per-step drift (battery: slowly down). */
  trend?: number;
}

const PRIMITIVE = /^dtmi:dtdl:instance:Schema:(\w+);[23]$/;
const SEMANTIC = /^dtmi:standard:class:(\w+);[23]$/;

/** Signals by unit (checked first), then by semantic type. */
const BY_UNIT: Readonly<Record<string, Signal>> = {
  degreeCelsius: { base: 20, spread: 3, min: -40, max: 85 },
  degreeFahrenheit: { base: 68, spread: 5, min: -40, max: 185 },
  kelvin: { base: 293, spread: 3, min: 233, max: 358 },
  percent: { base: 50, spread: 10, min: 0, max: 100 },
  kibibyte: { base: 512_000, spread: 40_000, min: 0, max: 16_000_000 },
  kibibit: { base: 4_096_000, spread: 300_000, min: 0, max: 128_000_000 },
  megabyte: { base: 512, spread: 40, min: 0, max: 16_000 },
  volt: { base: 12, spread: 0.3, min: 0, max: 48 },
  ampere: { base: 1.2, spread: 0.3, min: 0, max: 20 },
  watt: { base: 60, spread: 15, min: 0, max: 5000 },
  kilowattHour: { base: 120, spread: 1, min: 0, max: 1e9, trend: 0.05 },
  hertz: { base: 50, spread: 0.1, min: 45, max: 65 },
  millibar: { base: 1013, spread: 8, min: 900, max: 1100 },
  hectopascal: { base: 1013, spread: 8, min: 900, max: 1100 },
  kilopascal: { base: 101.3, spread: 0.8, min: 90, max: 110 },
  pascal: { base: 101_325, spread: 800, min: 90_000, max: 110_000 },
  metrePerSecond: { base: 4, spread: 2, min: 0, max: 60 },
  kilometrePerHour: { base: 40, spread: 15, min: 0, max: 200 },
  lux: { base: 400, spread: 150, min: 0, max: 100_000 },
  decibel: { base: 45, spread: 8, min: 0, max: 140 },
  revolutionPerMinute: { base: 1500, spread: 200, min: 0, max: 10_000 },
  second: { base: 60, spread: 20, min: 0, max: 86_400 },
  metre: { base: 10, spread: 2, min: 0, max: 10_000 },
  kilogram: { base: 70, spread: 5, min: 0, max: 10_000 },
  litre: { base: 100, spread: 10, min: 0, max: 100_000 },
};

const BY_SEMANTIC: Readonly<Record<string, Signal>> = {
  Temperature: BY_UNIT['degreeCelsius'] as Signal,
  Humidity: { base: 45, spread: 8, min: 0, max: 100 },
  RelativeHumidity: { base: 45, spread: 8, min: 0, max: 100 },
  Pressure: BY_UNIT['millibar'] as Signal,
  DataSize: BY_UNIT['kibibyte'] as Signal,
  Voltage: BY_UNIT['volt'] as Signal,
  Current: BY_UNIT['ampere'] as Signal,
  Power: BY_UNIT['watt'] as Signal,
  Energy: BY_UNIT['kilowattHour'] as Signal,
  Frequency: BY_UNIT['hertz'] as Signal,
  Velocity: BY_UNIT['metrePerSecond'] as Signal,
  Illuminance: BY_UNIT['lux'] as Signal,
  SoundPressure: BY_UNIT['decibel'] as Signal,
  AngularVelocity: BY_UNIT['revolutionPerMinute'] as Signal,
  TimeSpan: BY_UNIT['second'] as Signal,
  Length: BY_UNIT['metre'] as Signal,
  Distance: BY_UNIT['metre'] as Signal,
  Mass: BY_UNIT['kilogram'] as Signal,
  Volume: BY_UNIT['litre'] as Signal,
};

/** Names that say what a signal is when the model has no semantic type. */
const BY_NAME: readonly [RegExp, Signal][] = [
  [/batt/i, { base: 95, spread: 0.5, min: 0, max: 100, trend: -0.02 }],
  [/temp/i, BY_UNIT['degreeCelsius'] as Signal],
  [/humid/i, BY_SEMANTIC['Humidity'] as Signal],
  [/press/i, BY_UNIT['millibar'] as Signal],
  [/volt/i, BY_UNIT['volt'] as Signal],
  [/(percent|level|pct)/i, BY_UNIT['percent'] as Signal],
];

const DEFAULT_SIGNAL: Signal = { base: 50, spread: 10, min: 0, max: 100 };

/** A small seeded generator (mulberry32): the same seed, the same fleet. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The signal a numeric capability follows. */
export function signalOf(element: Pick<ModelElement, 'name' | 'unit' | 'supplementalTypes'>): Signal {
  if (element.unit !== undefined && BY_UNIT[element.unit] !== undefined) return BY_UNIT[element.unit] as Signal;
  for (const type of element.supplementalTypes) {
    const semantic = SEMANTIC.exec(type)?.[1];
    if (semantic !== undefined && BY_SEMANTIC[semantic] !== undefined) return BY_SEMANTIC[semantic] as Signal;
  }
  for (const [pattern, signal] of BY_NAME) if (pattern.test(element.name ?? '')) return signal;
  return DEFAULT_SIGNAL;
}

/**
 * The values of one simulated device: call {@link next} for each capability each time it is sent.
 *
 * @example
 * ```ts
 * const values = new PlausibleValues(model, seededRandom(7));
 * values.next(model.capability('dtmi:com:example:Thermostat;1', undefined, 'temperature')!); // 20.4
 * ```
 */
export class PlausibleValues {
  readonly #model: DtdlModel;
  readonly #random: () => number;
  readonly #walks = new Map<string, number>();
  readonly #place: { lat: number; lon: number };

  constructor(model: DtdlModel, random: () => number) {
    this.#model = model;
    this.#random = random;
    this.#place = { lat: 47.6 + (random() - 0.5), lon: -122.3 + (random() - 0.5) };
  }

  /** The next value of a telemetry or property element (keyed by the element's id and `path`). */
  next(element: ModelElement, path = element.id): unknown {
    return this.#value(element.schema ?? '', element, path, 0);
  }

  #value(schemaId: string, element: ModelElement, path: string, depth: number): unknown {
    const primitive = PRIMITIVE.exec(schemaId)?.[1];
    if (primitive !== undefined) return this.#primitive(primitive, element, path);
    if (schemaId === 'dtmi:iotcentral:schema:geopoint;2') return this.#geopoint();
    if (schemaId === 'dtmi:iotcentral:schema:vector;2') {
      return { x: this.#walk(`${path}.x`, DEFAULT_SIGNAL) - 50, y: this.#walk(`${path}.y`, DEFAULT_SIGNAL) - 50, z: 1 };
    }
    const schema = this.#model.get(schemaId);
    if (schema === undefined || depth > 8) return sampleValue(this.#model, schemaId);
    switch (schema.kind) {
      case 'Enum': {
        const values = schema.enumValues ?? [];
        // Mostly the first value (a normal state), sometimes another.
        const pick = this.#random() < 0.9 ? 0 : Math.floor(this.#random() * values.length);
        return this.#model.get(values[pick] ?? values[0] ?? '')?.enumValue;
      }
      case 'Object': {
        const out: Record<string, unknown> = {};
        for (const id of schema.fields ?? []) {
          const field = this.#model.get(id);
          if (field?.name !== undefined && field.schema !== undefined) {
            out[field.name] = this.#value(field.schema, field, `${path}.${field.name}`, depth + 1);
          }
        }
        return out;
      }
      default:
        return sampleValue(this.#model, schemaId);
    }
  }

  #primitive(kind: string, element: ModelElement, path: string): unknown {
    switch (kind) {
      case 'double':
      case 'float':
        return Math.round(this.#walk(path, signalOf(element)) * 100) / 100;
      case 'integer':
      case 'long':
        return Math.round(this.#walk(path, signalOf(element)));
      case 'boolean':
        return this.#random() < 0.05;
      case 'string':
        return `${element.name ?? 'value'}-${Math.floor(this.#random() * 1000)}`;
      case 'dateTime':
        return new Date().toISOString();
      case 'date':
        return new Date().toISOString().slice(0, 10);
      case 'time':
        return `${new Date().toISOString().slice(11, 19)}Z`;
      case 'duration':
        return `PT${1 + Math.floor(this.#random() * 59)}M`;
      default:
        return sampleValue(this.#model, `dtmi:dtdl:instance:Schema:${kind};2`);
    }
  }

  /** A bounded random walk around the signal's base, with its trend. */
  #walk(path: string, signal: Signal): number {
    const previous = this.#walks.get(path) ?? signal.base + (this.#random() - 0.5) * signal.spread;
    const pull = (signal.base - previous) * 0.1;
    const step =
      (this.#random() - 0.5) * signal.spread * 0.3 + (signal.trend ?? 0) + (signal.trend === undefined ? pull : 0);
    const value = Math.min(signal.max, Math.max(signal.min, previous + step));
    this.#walks.set(path, value);
    return value;
  }

  #geopoint(): { lat: number; lon: number; alt: number } {
    this.#place.lat += (this.#random() - 0.5) * 0.001;
    this.#place.lon += (this.#random() - 0.5) * 0.001;
    return { lat: Math.round(this.#place.lat * 1e6) / 1e6, lon: Math.round(this.#place.lon * 1e6) / 1e6, alt: 0 };
  }
}
