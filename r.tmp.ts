import { readFileSync } from 'node:fs';
import { parseSpec } from './src/core/spec/parse-spec.js';
import { renderImage } from './src/core/render/render-image.js';
import { loadTemplateSources } from './src/adapters/fs/read-files.js';
import { replaceDirectory } from './src/adapters/fs/write-files.js';
const f = process.argv[2]!;
const { spec } = parseSpec(readFileSync(f, 'utf8'), f);
await replaceDirectory(process.argv[3]!, renderImage(spec, await loadTemplateSources('.'), { packerVersion: process.argv[4] }));
