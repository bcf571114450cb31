import type { Command } from '../command.js';

/** `imagebuild schema`. */
export const schemaCommand: Command = {
  name: 'schema',
  usage: 'imagebuild schema',
  positionals: { min: 0, max: 0 },
  summary: 'print the JSON Schema of image spec files (for editor completion and checking)',
  description:
    'Prints the JSON Schema generated from the zod schema that `validate` uses. The copy in schema/image-spec.schema.json\n' +
    'is kept in sync by a test; spec files point editors at it with `# yaml-language-server: $schema=...`.',
  flags: {},
  async run({ output }) {
    const { imageSpecJsonSchema } = await import('../../core/spec/json-schema.js');
    output.json(imageSpecJsonSchema());
    return 0;
  },
};
