// Encoders for values that cross from the spec into generated files. Handlebars' default escaping is
// for HTML, which is wrong for every format here, so templates compile with noEscape and every
// spec value goes through one of these.

/** Encodes a value as an HCL2 quoted string: escapes quotes, backslashes, control characters and the `${` / `%{` template sequences. */
export function encodeHclString(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    const next = value[i + 1];
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if ((ch === '$' || ch === '%') && next === '{') out += `${ch}${ch}`;
    else if (ch.charCodeAt(0) < 0x20 || ch === '\u007f') out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** An HCL expression written by imagebuild itself (never from a spec), emitted verbatim. */
export class HclExpression {
  constructor(readonly source: string) {}
}

/** Encodes a primitive or list as an HCL2 expression (string, number, bool or tuple); only HclExpression passes through unescaped. */
export function encodeHclValue(value: unknown): string {
  if (value instanceof HclExpression) return value.source;
  if (typeof value === 'string') return encodeHclString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot encode ${value} as HCL`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(encodeHclValue).join(', ')}]`;
  throw new TypeError(`cannot encode ${typeof value} as an HCL value`);
}

/**
 * Encodes a value as a YAML flow node. JSON is a subset of YAML 1.2, so strings are JSON strings;
 * with `unsafe`, strings carry Ansible's `!unsafe` tag so a `{{ }}` in a spec value is never
 * evaluated as Jinja.
 */
export function encodeYamlValue(value: unknown, options: { unsafe: boolean }): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return options.unsafe ? `!unsafe ${JSON.stringify(value)}` : JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot encode ${value} as YAML`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map((v) => encodeYamlValue(v, options)).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${encodeYamlValue(v, options)}`).join(', ')}}`;
  }
  throw new TypeError(`cannot encode ${typeof value} as YAML`);
}

/** Serialises a value as JSON with keys sorted at every level, so equal values give equal bytes. */
export function encodeCanonicalJson(value: unknown, indent?: number): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}
