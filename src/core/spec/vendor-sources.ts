import { COMPAT_TABLE } from '../compat/table.js';
import type { ImageSpec } from './schema.js';

// Where the GPU layers download from, with today's vendor URLs as defaults. Every one is a spec field, so a
// site can point a build at its own mirror (Artifactory, aptly, devpi, a registry mirror) or an air-gapped copy.

/** NVIDIA's CUDA network repositories: <base>/<distro><release>/x86_64/ (ubuntu2404, debian12, …). */
export const NVIDIA_CUDA_REPOSITORY_BASE = COMPAT_TABLE.vendorRepositories.cuda.url;
/** The package that installs the repository's signing key and its sources.list entry. */
export const CUDA_KEYRING_PACKAGE = 'cuda-keyring_1.1-1_all.deb';
/** NVIDIA Container Toolkit: one flat repository for every distribution; apt expands $(ARCH). */
export const CONTAINER_TOOLKIT_REPOSITORY = {
  url: `${COMPAT_TABLE.vendorRepositories.containerToolkit.url}/stable/deb/$(ARCH)`,
  gpgkey_url: `${COMPAT_TABLE.vendorRepositories.containerToolkit.url}/gpgkey`,
} as const;
export const PYPI_INDEX_URL = 'https://pypi.org/simple';
/** PyTorch's wheel indexes, one per CUDA variant: <base>/cu130. */
export const PYTORCH_INDEX_BASE = COMPAT_TABLE.vendorRepositories.pytorch.url;

export type DriverSource = 'ubuntu' | 'nvidia';

/** The driver's source: the spec's, else Canonical's signed modules on Ubuntu (they load under Secure Boot) and NVIDIA's repository elsewhere. */
export function driverSourceOf(spec: Pick<ImageSpec, 'os' | 'layers'>): DriverSource {
  const secureBootReady = COMPAT_TABLE.driverSources.ubuntu;
  return spec.layers.driver.source ?? (secureBootReady.distros.some((distro) => distro === spec.os.distro) ? 'ubuntu' : 'nvidia');
}

/** Every vendor source of a spec, resolved: the driver's source and each URL the GPU layers download from. */
export type VendorSources = ReturnType<typeof resolveVendorSources>;

/** Resolves every vendor source of a spec to a URL (the spec's value, else today's default). */
export function resolveVendorSources(spec: ImageSpec) {
  const { driver, runtime, frameworks } = spec.layers;
  const cudaRepositoryUrl = withTrailingSlash(
    driver.repository.url ?? `${NVIDIA_CUDA_REPOSITORY_BASE}/${spec.os.distro}${spec.os.release.replace('.', '')}/x86_64/`,
  );
  return {
    driverSource: driverSourceOf(spec),
    cudaRepositoryUrl,
    cudaKeyringUrl: driver.repository.keyring_url ?? `${cudaRepositoryUrl}${CUDA_KEYRING_PACKAGE}`,
    containerToolkitRepositoryUrl: runtime.repository.url,
    containerToolkitGpgKeyUrl: runtime.repository.gpgkey_url,
    pypiIndexUrl: frameworks.pip.index_url ?? PYPI_INDEX_URL,
    pytorchIndexUrl: frameworks.pytorch.index_url ?? `${PYTORCH_INDEX_BASE}/${frameworks.pytorch.cuda_variant}`,
    cudaImage: runtime.gate.cuda_image,
  };
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
