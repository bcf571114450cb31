# generated from templates/packer/layer.pkr.hcl.hbs by imagebuild (image vault-cube-demo-box, layer base) — do not edit

# Paths and host facts are variables, not rendered values: the same spec renders the same bytes on
# every machine, and `imagebuild build` passes them with -var.
variable "project_dir" {
  type        = string
  description = "Absolute path of the imagebuild project (ansible/, guest/)."
}

variable "report_dir" {
  type        = string
  description = "Existing directory that receives the gate, facts and Ansible reports and the serial log."
}

variable "output_directory" {
  type        = string
  description = "Directory Packer creates for this layer's qcow2; must not exist yet."
}

variable "parent_image" {
  type        = string
  default     = ""
  description = "Absolute path of the parent layer's qcow2 (the backing file of this layer's overlay)."
}

variable "kernel_dir" {
  type        = string
  default     = ""
  description = "Directory holding vmlinuz and initrd.img for a bootstrapped base's first boot."
}

variable "ssh_private_key_file" {
  type        = string
  description = "Private half of the per-cache build key; the seal step removes its public half from the image."
}

variable "build_key_pub" {
  type        = string
  default     = ""
  description = "Public build key file offered to cloud-init on the seed CD (cloud_image sources)."
}

variable "verify_key_pub" {
  type        = string
  default     = ""
  description = "Public half of the cache's verification key (an OpenSSH public key line); the users role authorises it for the spec's verify_login user."
}

variable "apt_proxy" {
  type        = string
  default     = ""
  description = "The build VM's apt proxy (Acquire::http::Proxy), e.g. imagebuild's own apt-cacher-ng as http://10.0.2.2:PORT; \"\" = none. Set per run: never part of a layer's key."
}

variable "apt_https_proxied" {
  type        = bool
  default     = false
  description = "Whether apt_proxy is imagebuild's own apt-cacher-ng, which fetches HTTPS repositories the build VM names http://HTTPS///host/path (the package_cache role's copy of the sources). Set per run: never part of a layer's key."
}

variable "wheelhouse_url" {
  type        = string
  default     = ""
  description = "The frameworks layer's pip wheelhouse as the build VM reaches it (imagebuild serves it on http://10.0.2.2:PORT while the build runs); \"\" = install from the indexes. Set per run: never part of a layer's key."
}

variable "image_cache_url" {
  type        = string
  default     = ""
  description = "The runtime layer's saved container images as the build VM reaches them (imagebuild serves them on http://10.0.2.2:PORT while the build runs); \"\" = pull from the registries. Set per run: never part of a layer's key."
}

variable "accelerator" {
  type        = string
  default     = "kvm"
  description = "kvm or tcg; chosen by the preflight boot probe."

  validation {
    condition     = var.accelerator == "kvm" || var.accelerator == "tcg"
    error_message = "The accelerator must be kvm or tcg."
  }
}

source "qemu" "base" {
  # The installer is driven by typed keystrokes, which Packer sends over VNC (bound to loopback).
  iso_url        = "https://releases.ubuntu.com/24.04.3/ubuntu-24.04.3-live-server-amd64.iso"
  iso_checksum   = "sha256:c3514bf0056180d09376462a7a1b4f213c1d6e8ea67fae5c25099c6fd3d8274b"
  http_directory = "${path.root}/http"
  boot_wait      = "5s"
  boot_command   = ["c<wait>", "linux /casper/vmlinuz autoinstall 'ds=nocloud-net;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/' subiquity-storage-version=2 ---<enter><wait>", "initrd /casper/initrd<enter><wait>", "boot<enter>"]

  format           = "qcow2"
  vm_name          = "base.qcow2"
  output_directory = var.output_directory
  disk_size        = "204800M"
  disk_interface   = "virtio"
  disk_cache       = "unsafe"
  disk_discard     = "unmap"
  net_device       = "virtio-net"
  machine_type     = "q35"
  accelerator      = var.accelerator
  cpus             = 16
  memory           = 65536
  headless         = true

  # Packer's own forward listens on every interface; this -netdev keeps the build VM's SSH on loopback.
  qemuargs = [
    ["-cpu", var.accelerator == "kvm" ? "host" : "max"],
    ["-netdev", "user,id=user.0,hostfwd=tcp:127.0.0.1:{{ .SSHHostPort }}-:22"],
    ["-serial", "file:${var.report_dir}/serial.log"],
    ["-global", "q35-pcihost.pci-hole64-size=2048G"],
    ["-device", "pcie-root-port,id=imagebuild-gpu0,chassis=1,slot=1"],
    ["-device", "vfio-pci,host=0000:01:00.0,bus=imagebuild-gpu0,addr=00.0,multifunction=on"],
    ["-device", "vfio-pci,host=0000:01:00.1,bus=imagebuild-gpu0,addr=00.1"],
    ["-device", "pcie-root-port,id=imagebuild-gpu1,chassis=2,slot=2"],
    ["-device", "vfio-pci,host=0000:21:00.0,bus=imagebuild-gpu1,addr=00.0,multifunction=on"],
    ["-device", "vfio-pci,host=0000:21:00.1,bus=imagebuild-gpu1,addr=00.1"],
    ["-device", "pcie-root-port,id=imagebuild-gpu2,chassis=3,slot=3"],
    ["-device", "vfio-pci,host=0000:41:00.0,bus=imagebuild-gpu2,addr=00.0,multifunction=on"],
    ["-device", "vfio-pci,host=0000:41:00.1,bus=imagebuild-gpu2,addr=00.1"],
    ["-device", "pcie-root-port,id=imagebuild-gpu3,chassis=4,slot=4"],
    ["-device", "vfio-pci,host=0000:61:00.0,bus=imagebuild-gpu3,addr=00.0,multifunction=on"],
    ["-device", "vfio-pci,host=0000:61:00.1,bus=imagebuild-gpu3,addr=00.1"],
    ["-device", "virtio-net,netdev=user.0"],
  ]

  communicator         = "ssh"
  ssh_username         = "imagebuild"
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout          = "90m"
  shutdown_command     = "sudo -n systemctl poweroff"
  shutdown_timeout     = "10m"
}

build {
  name    = "base"
  sources = ["source.qemu.base"]

  provisioner "ansible" {
    playbook_file   = "${var.project_dir}/ansible/playbooks/base.yml"
    user            = "imagebuild"
    use_proxy       = false
    extra_arguments = ["--extra-vars", "@${path.root}/vars.yml", "--extra-vars", jsonencode({ users_verify_key = var.verify_key_pub, package_cache_apt_proxy = var.apt_proxy, package_cache_https_proxied = var.apt_https_proxied, ai_frameworks_wheelhouse_url = var.wheelhouse_url, container_runtime_image_cache_url = var.image_cache_url })]
    ansible_env_vars = [
      "ANSIBLE_CONFIG=${var.project_dir}/ansible/ansible.cfg",
      "ANSIBLE_HOST_KEY_CHECKING=False",
      "ANSIBLE_NOCOLOR=1",
      "IMAGEBUILD_ANSIBLE_REPORT=${var.report_dir}/ansible-run.json",
    ]
  }

  # Idempotence: the same playbook again must change nothing; the report callback records the counts.
  provisioner "ansible" {
    playbook_file   = "${var.project_dir}/ansible/playbooks/base.yml"
    user            = "imagebuild"
    use_proxy       = false
    extra_arguments = ["--extra-vars", "@${path.root}/vars.yml", "--extra-vars", jsonencode({ users_verify_key = var.verify_key_pub, package_cache_apt_proxy = var.apt_proxy, package_cache_https_proxied = var.apt_https_proxied, ai_frameworks_wheelhouse_url = var.wheelhouse_url, container_runtime_image_cache_url = var.image_cache_url })]
    ansible_env_vars = [
      "ANSIBLE_CONFIG=${var.project_dir}/ansible/ansible.cfg",
      "ANSIBLE_HOST_KEY_CHECKING=False",
      "ANSIBLE_NOCOLOR=1",
      "IMAGEBUILD_ANSIBLE_REPORT=${var.report_dir}/ansible-idempotence.json",
    ]
  }

  # The gate: check programs measure inside the VM and write JSON; imagebuild judges it against the
  # spec's thresholds after Packer has downloaded it.
  # The file provisioner copies a directory's contents only into a directory that already exists.
  provisioner "shell" {
    inline = ["rm -rf /tmp/imagebuild-guest", "mkdir -p /tmp/imagebuild-guest"]
  }

  provisioner "file" {
    source      = "${var.project_dir}/guest/"
    destination = "/tmp/imagebuild-guest/"
  }

  provisioner "file" {
    source      = "${path.root}/checks.json"
    destination = "/tmp/imagebuild-guest/checks.json"
  }

  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; sudo -n env {{ .Vars }} {{ .Path }}"
    inline = [
      "python3 /tmp/imagebuild-guest/run_checks.py --params /tmp/imagebuild-guest/checks.json --out /tmp/imagebuild-gate.json",
      "python3 /tmp/imagebuild-guest/facts.py --params /tmp/imagebuild-guest/checks.json --out /tmp/imagebuild-facts.json",
      "chmod 0644 /tmp/imagebuild-gate.json /tmp/imagebuild-facts.json",
    ]
  }

  provisioner "file" {
    direction   = "download"
    source      = "/tmp/imagebuild-gate.json"
    destination = "${var.report_dir}/gate.json"
  }

  provisioner "file" {
    direction   = "download"
    source      = "/tmp/imagebuild-facts.json"
    destination = "${var.report_dir}/facts.json"
  }

  provisioner "shell" {
    inline = ["sudo -n rm -rf /tmp/imagebuild-guest /tmp/imagebuild-gate.json /tmp/imagebuild-facts.json"]
  }
}
