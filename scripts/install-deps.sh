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
)

# file -> Debian package, for what is not a command
declare -A FILES=(
  [/usr/share/OVMF/OVMF_CODE_4M.fd]=ovmf # UEFI firmware: the verification boot proves every image boots under OVMF
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
  echo "install-deps: apt-get install ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci also builds dist/ through the prepare script.
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json || ! -f dist/cli/bin.js ]]; then
  echo "install-deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
