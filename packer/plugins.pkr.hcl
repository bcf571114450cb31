# Plugin requirements for current Packer (>= 1.7; built against 1.10+). imagebuild copies this file
# into each rendered layer only when `packer version` is 1.7 or later: Debian's Packer 1.6.6 has
# qemu and ansible built in and rejects a required_plugins block.
packer {
  required_version = ">= 1.7.0"
  required_plugins {
    qemu = {
      source  = "github.com/hashicorp/qemu"
      version = ">= 1.1.0"
    }
    ansible = {
      source  = "github.com/hashicorp/ansible"
      version = ">= 1.1.0"
    }
  }
}
