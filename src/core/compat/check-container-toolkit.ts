import { sourceUrl } from './describe-facts.js';
import { compareDottedVersions, parseDottedVersion } from './dotted-version.js';
import { errorAt, type CompatFinding, type StackContext } from './stack-context.js';

/** Refuses a Container Toolkit exposed to a known CVE. */
export function checkContainerToolkit({ stack, table }: StackContext): CompatFinding[] {
  const version = stack.containerToolkit;
  if (version === undefined) return [];
  const path = 'layers.runtime.container_toolkit';
  if (parseDottedVersion(version) === undefined) {
    return [errorAt(path, `NVIDIA Container Toolkit version ${JSON.stringify(version)} is not a dotted version; write it like ${table.containerToolkit.newest.version}`)];
  }
  const exposed = table.containerToolkit.advisories.filter((advisory) => compareDottedVersions(version, advisory.fixedIn) < 0);
  const last = exposed.at(-1);
  if (last === undefined) return [];
  const advisories = exposed.map((advisory) => `${advisory.cves.join('/')} (${advisory.what}; fixed in ${advisory.fixedIn}, ${sourceUrl(advisory)})`);
  return [
    errorAt(path, `NVIDIA Container Toolkit ${version} is exposed to ${advisories.join('; ')}; use >= ${last.fixedIn} (newest known: ${table.containerToolkit.newest.version})`),
  ];
}
