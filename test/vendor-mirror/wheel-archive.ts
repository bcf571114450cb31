import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';

/** One file of a wheel: its path inside the archive and its bytes (text is written as UTF-8). */
export type WheelFile = { readonly path: string; readonly content: string | Uint8Array; readonly executable?: boolean };

/** What a wheel declares about itself: the core metadata fields a resolver reads, and its tag. */
export type WheelSpec = {
  /** The project name as published (`nvidia-nccl-cu13`); file and dist-info names are derived from it. */
  readonly name: string;
  readonly version: string;
  /** `py3-none-any`, `py3-none-manylinux_2_28_x86_64`, … */
  readonly tag: string;
  readonly summary: string;
  readonly keywords: string;
  readonly requiresPython?: string;
  readonly requiresDist?: readonly string[];
  readonly files: readonly WheelFile[];
};

/** A wheel written to disk. */
export type BuiltWheel = { readonly fileName: string; readonly path: string; readonly sha256: string; readonly bytes: number };

// Every entry carries the same timestamp, so a wheel's bytes (and the index's #sha256) depend on its contents only.
const DOS_DATE_2020_01_01 = ((2020 - 1980) << 9) | (1 << 5) | 1;
const DOS_TIME_MIDNIGHT = 0;
const ZIP_VERSION = 20;
const MADE_BY_UNIX = (3 << 8) | ZIP_VERSION;
const FLAG_UTF8 = 0x0800;
const METHOD_DEFLATE = 8;

/** The wheel file-name form of a project name (PEP 427 / the binary distribution format: runs of -_. become _). */
export function wheelNameOf(project: string): string {
  return project.replace(/[-_.]+/g, '_').toLowerCase();
}

/** The PEP 503 normalized form of a project name: the index directory it is listed under. */
export function normalizedProjectName(project: string): string {
  return project.replace(/[-_.]+/g, '-').toLowerCase();
}

/** `<dist>-<version>-<tag>.whl`; a local version label keeps its `+` (hrefs quote it as %2B). */
export function wheelFileName(spec: Pick<WheelSpec, 'name' | 'version' | 'tag'>): string {
  return `${wheelNameOf(spec.name)}-${spec.version}-${spec.tag}.whl`;
}

/** Writes `spec` as a wheel into `outDir`: the files, then dist-info METADATA, WHEEL and RECORD (hashes of all but itself). */
export async function writeWheel(outDir: string, spec: WheelSpec): Promise<BuiltWheel> {
  const distInfo = `${wheelNameOf(spec.name)}-${spec.version}.dist-info`;
  const purelib = spec.tag.endsWith('-any');
  const entries: WheelFile[] = [
    ...spec.files,
    { path: `${distInfo}/METADATA`, content: metadataOf(spec) },
    {
      path: `${distInfo}/WHEEL`,
      content: `Wheel-Version: 1.0\nGenerator: imagebuild test/vendor-mirror\nRoot-Is-Purelib: ${purelib}\nTag: ${spec.tag}\n`,
    },
  ];
  const record = entries.map((entry) => {
    const data = bytesOf(entry.content);
    return `${entry.path},sha256=${createHash('sha256').update(data).digest('base64url')},${data.length}`;
  });
  entries.push({ path: `${distInfo}/RECORD`, content: `${[...record, `${distInfo}/RECORD,,`].join('\n')}\n` });

  const archive = zipOf(entries);
  const fileName = wheelFileName(spec);
  const path = join(outDir, fileName);
  await writeFile(path, archive);
  return { fileName, path, sha256: createHash('sha256').update(archive).digest('hex'), bytes: archive.length };
}

function metadataOf(spec: WheelSpec): string {
  const lines = ['Metadata-Version: 2.1', `Name: ${spec.name}`, `Version: ${spec.version}`, `Summary: ${spec.summary}`, `Keywords: ${spec.keywords}`];
  if (spec.requiresPython) lines.push(`Requires-Python: ${spec.requiresPython}`);
  for (const requirement of spec.requiresDist ?? []) lines.push(`Requires-Dist: ${requirement}`);
  return `${lines.join('\n')}\n`;
}

function bytesOf(content: string | Uint8Array): Buffer {
  return typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content);
}

// A plain zip (no zip64, no data descriptors): local headers with the data, then the central directory.
function zipOf(entries: readonly WheelFile[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.path, 'utf8');
    const data = bytesOf(entry.content);
    const compressed = deflateRawSync(data, { level: 9 });
    const crc = crc32(data);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(ZIP_VERSION, 4);
    local.writeUInt16LE(FLAG_UTF8, 6);
    local.writeUInt16LE(METHOD_DEFLATE, 8);
    local.writeUInt16LE(DOS_TIME_MIDNIGHT, 10);
    local.writeUInt16LE(DOS_DATE_2020_01_01, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(MADE_BY_UNIX, 4);
    central.writeUInt16LE(ZIP_VERSION, 6);
    central.writeUInt16LE(FLAG_UTF8, 8);
    central.writeUInt16LE(METHOD_DEFLATE, 10);
    central.writeUInt16LE(DOS_TIME_MIDNIGHT, 12);
    central.writeUInt16LE(DOS_DATE_2020_01_01, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    // extra length, comment length, disk number start, internal attributes: 0
    // pip installs a file with the executable bits of its Unix mode (the high 16 bits of the external attributes).
    central.writeUInt32LE(((0o100000 | (entry.executable ? 0o755 : 0o644)) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);

    locals.push(local, name, compressed);
    centrals.push(central, name);
    offset += local.length + name.length + compressed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
