import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The verbatim Azure REST specs and examples the tests read (see its README for sources and licenses). */
export const SPECS = join(__dirname, '..', 'fixtures', 'azure-specs');

export function readSpec(relative: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(SPECS, relative), 'utf8')) as Record<string, unknown>;
}

/**
 * ARM common-types v6 definitions that Servers.json references but the saved specs do not include,
 * written down from the published common-types (Resource, TrackedResource) so refs resolve.
 */
const COMMON_TYPES: Record<string, string> = {
  '../../../../../common-types/resource-management/v6/types.json#/definitions/TrackedResource':
    '#/definitions/__TrackedResource',
  '../../../../../common-types/resource-management/v6/privatelinks.json#/definitions/PrivateEndpointConnection':
    '#/definitions/__PrivateEndpointConnection',
  // The Key Vault management spec (TypeSpec-generated, one folder deeper) refers to common-types v5.
  '../../../../../../common-types/resource-management/v5/types.json#/definitions/TrackedResource':
    '#/definitions/__TrackedResource',
  '../../../../../../common-types/resource-management/v5/types.json#/definitions/ProxyResource':
    '#/definitions/__ProxyResource',
  '../../../../../../common-types/resource-management/v5/managedidentity.json#/definitions/ManagedServiceIdentity':
    '#/definitions/__ManagedServiceIdentity',
};
const COMMON_DEFINITIONS = {
  __TrackedResource: {
    type: 'object',
    required: ['location'],
    properties: {
      id: { type: 'string', readOnly: true },
      name: { type: 'string', readOnly: true },
      type: { type: 'string', readOnly: true },
      systemData: { type: 'object', readOnly: true },
      tags: { type: 'object', additionalProperties: { type: 'string' } },
      location: { type: 'string' },
    },
  },
  __PrivateEndpointConnection: { type: 'object' },
  // common-types v5 ProxyResource: a Resource (id, name, type, systemData, all read-only) without location.
  __ProxyResource: {
    type: 'object',
    properties: {
      id: { type: 'string', readOnly: true },
      name: { type: 'string', readOnly: true },
      type: { type: 'string', readOnly: true },
      systemData: { type: 'object', readOnly: true },
    },
  },
  __ManagedServiceIdentity: { type: 'object' },
};

/**
 * Reads Swagger the way Azure's code generators do: external common-types refs resolved, and an enum
 * marked `x-ms-enum.modelAsString` is an open set of strings (Azure's own examples send `"type": ""`
 * for storage), so only its string type is enforced.
 */
function normalize(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(normalize);
  if (typeof node !== 'object' || node === null) return node;
  const src = node as Record<string, unknown>;
  const xmsEnum = src['x-ms-enum'] as { modelAsString?: boolean } | undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    if (k === 'enum' && xmsEnum?.modelAsString === true) continue;
    out[k] = k === '$ref' && typeof v === 'string' && v in COMMON_TYPES ? COMMON_TYPES[v] : normalize(v);
  }
  return out;
}

/**
 * Where a spec contradicts its own examples and the service, the examples win. Resource Graph's
 * `QueryResponse.data` is typed `object` but the service (and every example) returns an array of rows
 * for `objectArray` results.
 */
const SPEC_ERRATA: Record<string, Record<string, unknown>> = {
  QueryResponse: { data: { type: ['object', 'array'] } },
};

/** A JSON-schema validator (ajv) for one Swagger 2.0 definition, all refs resolved within the file. */
export function validatorFor(specFile: string, definition: string): ValidateFunction {
  const spec = normalize(readSpec(specFile)) as {
    definitions: Record<string, { properties?: Record<string, unknown> }>;
  };
  for (const [name, props] of Object.entries(SPEC_ERRATA)) {
    const def = spec.definitions[name];
    if (def?.properties !== undefined) Object.assign(def.properties, props);
  }
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  // Swagger's numeric and Azure-specific formats: the JSON type check is what matters for them.
  for (const f of [
    'int32',
    'int64',
    'float',
    'double',
    'unixtime',
    'base64url',
    'password',
    'arm-id',
    'duration',
    'byte',
  ])
    ajv.addFormat(f, true);
  ajv.addSchema({ $id: 'spec', definitions: { ...spec.definitions, ...COMMON_DEFINITIONS } });
  const validate = ajv.getSchema(`spec#/definitions/${definition}`);
  if (validate === undefined) throw new Error(`${definition} not in ${specFile}`);
  return validate;
}

export function expectValid(validate: ValidateFunction, value: unknown): void {
  const ok = validate(value);
  if (!ok)
    throw new Error(
      `schema violations: ${JSON.stringify(validate.errors, null, 2)}\nvalue: ${JSON.stringify(value).slice(0, 2000)}`,
    );
}
