import { describe, expect, it } from 'vitest';
import { encodeCanonicalJson, encodeHclString, encodeHclValue, encodeYamlValue, HclExpression } from './encode.js';

describe('encodeHclString', () => {
  it.each([
    ['plain', 'abc', '"abc"'],
    ['double quote', 'a"b', '"a\\"b"'],
    ['backslash', 'a\\b', '"a\\\\b"'],
    ['newline', 'a\nb', '"a\\nb"'],
    ['carriage return and tab', 'a\r\tb', '"a\\r\\tb"'],
    ['interpolation sequence', 'x${var.secret}y', '"x$${var.secret}y"'],
    ['directive sequence', '%{ if true }', '"%%{ if true }"'],
    ['lone dollar and percent', '$5 and 100%', '"$5 and 100%"'],
    ['control character', 'a\u0001b', '"a\\u0001b"'],
    ['unicode passes through', 'größe', '"größe"'],
  ])('%s', (_name, input, expected) => {
    const encoded = encodeHclString(input);

    expect(encoded).toBe(expected);
  });
});

describe('encodeHclValue', () => {
  it('encodes numbers, booleans and nested lists', () => {
    const encoded = encodeHclValue([['-cpu', 'max'], [1, true]]);

    expect(encoded).toBe('[["-cpu", "max"], [1, true]]');
  });

  it('passes an HclExpression through verbatim and nothing else', () => {
    const encoded = encodeHclValue(['-serial', new HclExpression('"file:${var.report_dir}/serial.log"')]);

    expect(encoded).toBe('["-serial", "file:${var.report_dir}/serial.log"]');
  });

  it('refuses objects and non-finite numbers instead of guessing', () => {
    expect(() => encodeHclValue({ source: 'var.x' })).toThrow(TypeError);
    expect(() => encodeHclValue(Number.NaN)).toThrow(TypeError);
  });
});

describe('encodeYamlValue', () => {
  it('tags strings as !unsafe for Ansible so Jinja in spec values is never evaluated', () => {
    const encoded = encodeYamlValue(["{{ lookup('pipe', 'id') }}", 3, false], { unsafe: true });

    expect(encoded).toBe(`[!unsafe "{{ lookup('pipe', 'id') }}", 3, false]`);
  });

  it('serialises newlines and quotes as escapes, never as raw YAML structure', () => {
    const encoded = encodeYamlValue({ key: 'a\n- injected: true\n"' }, { unsafe: false });

    expect(encoded).toBe('{"key": "a\\n- injected: true\\n\\""}');
  });

  it('drops undefined object members and writes null for null', () => {
    const encoded = encodeYamlValue({ a: undefined, b: null }, { unsafe: false });

    expect(encoded).toBe('{"b": null}');
  });
});

describe('encodeCanonicalJson', () => {
  it('gives equal bytes for equal values whatever the key order', () => {
    const a = encodeCanonicalJson({ b: 1, a: { d: [1, 2], c: 'x' } });
    const b = encodeCanonicalJson({ a: { c: 'x', d: [1, 2] }, b: 1 });

    expect(a).toBe(b);
    expect(a).toBe('{"a":{"c":"x","d":[1,2]},"b":1}');
  });
});
