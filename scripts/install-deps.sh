#!/usr/bin/env bash
# Installs everything imagebuild and its tests need on a Debian/Ubuntu machine: the tools from the
# distribution (packer, ansible, qemu-img, ssh, linters) and the npm dependencies. Idempotent and
# quick when everything is already there. Needs root or passwordless sudo for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package
declare -A PACKAGES=(
  [packer]=packer
  [ansible-playbook]=ansible
  [ansible-lint]=ansible-lint
  [yamllint]=yamllint
  [shellcheck]=shellcheck
  [qemu-img]=qemu-utils
  [bmaptool]=bmap-tools # block maps of exported raw images (imagebuild export --bmap)
  [xz]=xz-utils # raw.xz exports
  [qemu-system-x86_64]=qemu-system-x86
  [mmdebstrap]=mmdebstrap
  [mke2fs]=e2fsprogs
  [sfdisk]=fdisk
  [mkfs.fat]=dosfstools # the bootstrapped disk's EFI System Partition
  [ssh-keygen]=openssh-client
  [/usr/sbin/sshd]=openssh-server # the remote-build tests start their own sshd on 127.0.0.1
  [python3]=python3
  [cc]=gcc # builds the stand-in libnccl of the validation-suite tests
  [apt-ftparchive]=apt-utils # indexes the stand-in vendor mirror (test/vendor-mirror)
  [gpg]=gnupg # signs the stand-in vendor mirror's repositories
  [dpkg-deb]=dpkg # builds the stand-in packages
  [objcopy]=binutils # gives the stand-in nvidia.ko its .modinfo section
  # The RADOS Gateway tier (test/rgw-store.test.ts): a real S3 server that checks signatures and conditional writes
  [radosgw]=radosgw
  [ceph-mon]=ceph-mon
  [ceph-osd]=ceph-osd
  [ceph]=ceph-common
  [uuidgen]=uuid-runtime
  # The build's apt cache (src/adapters/package-cache/apt-proxy.ts) runs its own apt-cacher-ng on 127.0.0.1;
  # an absolute path like sshd's, since /usr/sbin is not on every user's PATH
  [/usr/sbin/apt-cacher-ng]=apt-cacher-ng
  # The build's container image cache saves the runtime layer's images with skopeo (src/adapters/package-cache/image-cache.ts)
  [skopeo]=skopeo
  # A real registry for the image cache's tests (test/helpers/registry.ts); its system service is not wanted
  [docker-registry]=docker-registry
)

# Packages whose maintainer scripts start a system-wide daemon that imagebuild does not want: apt-cacher-ng's
# listens on every address (port 3142) and would outlive any build, docker-registry's on port 5000. They install on their own, while a
# /usr/sbin/policy-rc.d that exits 101 ("action forbidden by policy") tells invoke-rc.d and deb-systemd-invoke to
# start nothing (https://people.debian.org/~hmh/invokerc.d-policyrc.d-specification.txt,
# https://manpages.debian.org/bookworm/init-system-helpers/deb-systemd-invoke.1p.en.html); the file is removed
# afterwards, even when the install fails, and the service is disabled so that a boot does not start it either.
QUIET_DAEMONS=(apt-cacher-ng docker-registry)

# file -> Debian package, for what is not a command
declare -A FILES=(
  [/usr/share/OVMF/OVMF_CODE_4M.fd]=ovmf # UEFI firmware: the verification boot proves every image boots under OVMF
  # Mitogen for Ansible: builds use its mitogen_linear strategy when it supports the host's Ansible (--ansible-strategy
  # auto), one Python per build VM instead of one per task: several times faster in TCG guests
  [/usr/lib/python3/dist-packages/ansible_mitogen/plugins/strategy/mitogen_linear.py]=ansible-mitogen
  # The build fills the frameworks layer's pip wheelhouse with the host's pip (src/adapters/package-cache/wheelhouse.ts);
  # the PyPI stand-in tests install into venvs
  [/usr/lib/python3/dist-packages/pip/__init__.py]=python3-pip
  [/usr/share/doc/python3-venv/copyright]=python3-venv
)

missing=()
for command in "${!PACKAGES[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${PACKAGES[$command]}")
done
for file in "${!FILES[@]}"; do
  [[ -e $file ]] || missing+=("${FILES[$file]}")
done

if ((${#missing[@]} > 0)); then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  daemons=()
  for daemon in "${QUIET_DAEMONS[@]}"; do
    [[ " ${missing[*]} " == *" $daemon "* ]] || continue
    daemons+=("$daemon")
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -vxF "$daemon")
  done
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  if ((${#missing[@]} > 0)); then
    echo "install-deps: apt-get install ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ((${#daemons[@]} > 0)); then
    echo "install-deps: apt-get install ${daemons[*]} (its service neither started nor enabled)"
    policy=/usr/sbin/policy-rc.d
    # An administrator's own policy-rc.d (a container image's usually exits 101 already) is left as it is.
    if [[ ! -e $policy ]]; then
      trap '"${sudo[@]}" rm -f "$policy"' EXIT
      trap 'exit 130' INT TERM
      printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
      "${sudo[@]}" chmod 755 "$policy"
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${daemons[@]}" >/dev/null
    if [[ $(trap -p EXIT) ]]; then
      "${sudo[@]}" rm -f "$policy"
      trap - EXIT INT TERM
    fi
    # Also where a policy-rc.d let it start: stopped, and not enabled for the next boot.
    for daemon in "${daemons[@]}"; do
      if [[ -d /run/systemd/system ]]; then
        "${sudo[@]}" systemctl disable --now "$daemon" >/dev/null 2>&1 || true
      elif [[ -x /etc/init.d/$daemon ]]; then
        "${sudo[@]}" "/etc/init.d/$daemon" stop >/dev/null 2>&1 || true
        "${sudo[@]}" update-rc.d "$daemon" disable >/dev/null 2>&1 || true
      fi
    done
  fi
fi

# npm ci also builds dist/ through the prepare script.
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json || ! -f dist/cli/bin.js ]]; then
  echo "install-deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
