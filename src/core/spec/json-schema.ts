import { z } from 'zod';
import { ImageSpec } from './schema.js';

/** The JSON Schema of image spec files (input side: defaulted fields are optional), for editors and `imagebuild schema`. */
export function imageSpecJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(ImageSpec, { io: 'input', unrepresentable: 'any' });
  return {
    ...generated,
    $id: 'https://imagebuild.invalid/schema/image-spec.schema.json',
    title: 'imagebuild image spec',
    description: 'Generated from src/core/spec/schema.ts by `imagebuild schema` — do not edit.',
  };
}
