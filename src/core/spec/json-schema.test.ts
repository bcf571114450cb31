// Tests may read the committed files they check; the purity rule is for the core's production code.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

import { imageSpecJsonSchema } from './json-schema.js';

const COMMITTED_SCHEMA = new URL('../../../schema/image-spec.schema.json', import.meta.url);
const DEMO_SPEC = new URL('../../../manifests/vault-cube-demo-box.yaml', import.meta.url);
const REGENERATE = 'schema/image-spec.schema.json is stale; regenerate it with `npm run build && ./bin/imagebuild.js schema > schema/image-spec.schema.json`';

// The sections a spec cannot do without; everything else at the top level has a default or is optional.
const TOP_LEVEL_REQUIRED = ['name', 'os', 'users', 'hardware', 'layers'];

type JsonObject = { [key: string]: unknown };

function readCommittedSchema(): unknown {
  try {
    return JSON.parse(readFileSync(COMMITTED_SCHEMA, 'utf8'));
  } catch (error) {
    throw new Error(`${REGENERATE} (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}

function isJsonObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function childOf(node: unknown, key: string | number): unknown {
  if (Array.isArray(node) && typeof key === 'number') return node[key];
  if (isJsonObject(node) && typeof key === 'string') return node[key];
  return undefined;
}

/** Follows a path of property names and array indexes through the schema, failing loudly if it does not exist. */
function schemaAt(root: unknown, path: readonly (string | number)[]): JsonObject {
  const node = path.reduce<unknown>(childOf, root);
  if (!isJsonObject(node)) throw new Error(`no schema object at /${path.join('/')}`);
  return node;
}

/** JSON pointers of every object schema (one with `properties`) that does not forbid unknown keys. */
function openObjectSchemas(node: unknown, pointer = ''): string[] {
  if (Array.isArray(node)) return node.flatMap((item, index) => openObjectSchemas(item, `${pointer}/${index}`));
  if (!isJsonObject(node)) return [];
  const own = 'properties' in node && node.additionalProperties !== false ? [pointer || '/'] : [];
  return [...own, ...Object.entries(node).flatMap(([key, child]) => openObjectSchemas(child, `${pointer}/${key}`))];
}

describe('schema/image-spec.schema.json', () => {
  it('equals what `imagebuild schema` prints', () => {
    const generated = imageSpecJsonSchema();

    const committed = readCommittedSchema();

    expect(committed, REGENERATE).toEqual(generated);
  });
});

describe('imageSpecJsonSchema', () => {
  it.each([
    { where: 'the root', path: [] },
    { where: 'os', path: ['properties', 'os'] },
    { where: 'each os.source kind', path: ['properties', 'os', 'properties', 'source', 'oneOf', 0] },
    { where: 'users[]', path: ['properties', 'users', 'items'] },
    { where: 'hardware.gpu', path: ['properties', 'hardware', 'properties', 'gpu'] },
    { where: 'layers.driver', path: ['properties', 'layers', 'properties', 'driver'] },
    { where: 'layers.frameworks.pytorch', path: ['properties', 'layers', 'properties', 'frameworks', 'properties', 'pytorch'] },
    { where: 'layers.validation.gate', path: ['properties', 'layers', 'properties', 'validation', 'properties', 'gate'] },
    { where: 'artifacts.store (s3)', path: ['properties', 'artifacts', 'properties', 'store', 'oneOf', 0] },
  ])('rejects unknown keys in $where', ({ path }) => {
    const schema = imageSpecJsonSchema();

    const node = schemaAt(schema, path);

    expect(node.additionalProperties).toBe(false);
  });

  it('rejects unknown keys in every object, at every depth', () => {
    const schema = imageSpecJsonSchema();

    const open = openObjectSchemas(schema);

    expect(open).toEqual([]);
  });

  it("lists the demo spec's required top-level keys as required, and only those", () => {
    const demo: unknown = parse(readFileSync(DEMO_SPEC, 'utf8'));
    const schema = imageSpecJsonSchema();

    const required = schema.required;

    expect(required).toEqual(TOP_LEVEL_REQUIRED);
    expect(Object.keys(isJsonObject(demo) ? demo : {})).toEqual(expect.arrayContaining(TOP_LEVEL_REQUIRED));
  });

  it('describes the input side: sections with defaults are optional', () => {
    const schema = imageSpecJsonSchema();

    const validationGate = schemaAt(schema, ['properties', 'layers', 'properties', 'validation', 'properties', 'gate']);

    expect(validationGate.required ?? []).toEqual([]);
    expect(schemaAt(validationGate, ['properties', 'ddp_min_scaling_efficiency']).default).toBe(0.8);
    expect(schemaAt(schema, ['properties', 'artifacts', 'properties', 'retention']).default).toBe(3);
  });
});
