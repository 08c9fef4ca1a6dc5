// @peculiar/x509 registers its algorithms through tsyringe, which throws at load time unless a Reflect metadata
// polyfill (`reflect-metadata`, `@abraham/reflection`, core-js) is installed. None is a dependency yet, so this
// module installs the three functions tsyringe calls, and only when no polyfill is present. Import it before
// `@peculiar/x509`. Replace it with `import 'reflect-metadata'` if that package is ever added (ADR).

type MetadataKey = string | symbol;
type MetadataTarget = object;

interface ReflectMetadataApi {
  getMetadata(key: MetadataKey, target: MetadataTarget, property?: string | symbol): unknown;
  getOwnMetadata(key: MetadataKey, target: MetadataTarget, property?: string | symbol): unknown;
  defineMetadata(key: MetadataKey, value: unknown, target: MetadataTarget, property?: string | symbol): void;
}

const reflect = Reflect as typeof Reflect & Partial<ReflectMetadataApi>;

if (typeof reflect.getMetadata !== 'function') {
  const store = new WeakMap<MetadataTarget, Map<string | symbol | undefined, Map<MetadataKey, unknown>>>();

  const own = (target: MetadataTarget, property: string | symbol | undefined, create: boolean) => {
    let byProperty = store.get(target);
    if (byProperty === undefined) {
      if (!create) return undefined;
      byProperty = new Map();
      store.set(target, byProperty);
    }
    let entries = byProperty.get(property);
    if (entries === undefined && create) {
      entries = new Map();
      byProperty.set(property, entries);
    }
    return entries;
  };

  const api: ReflectMetadataApi = {
    getOwnMetadata: (key, target, property) => own(target, property, false)?.get(key),
    getMetadata: (key, target, property) => {
      for (let current: object | null = target; current !== null; current = Object.getPrototypeOf(current)) {
        const entries = own(current, property, false);
        if (entries?.has(key) === true) return entries.get(key);
      }
      return undefined;
    },
    defineMetadata: (key, value, target, property) => {
      own(target, property, true)?.set(key, value);
    },
  };
  Object.assign(Reflect, api);
}
