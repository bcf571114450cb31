#!/usr/bin/env bash
# Lints what is not TypeScript: Ansible (ansible-lint, production profile), YAML (yamllint) and shell
# (shellcheck). In CI a missing linter is an error; elsewhere it is skipped with a notice.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
run() {
  local tool=$1; shift
  if ! command -v "$tool" >/dev/null 2>&1; then
    if [[ -n "${CI:-}" ]]; then echo "lint: $tool is not installed (run scripts/install-deps.sh)" >&2; status=1; else echo "lint: $tool not installed: skipped" >&2; fi
    return
  fi
  echo "lint: $tool"
  "$tool" "$@" || status=1
}

ANSIBLE_CONFIG=$PWD/ansible/ansible.cfg run ansible-lint --offline --nocolor -q ansible/
run yamllint -s ansible/ manifests/ .yamllint
mapfile -t shell_files < <(git ls-files '*.sh' '.ci/run' 'test/fixtures/**/bin/*' 2>/dev/null | while read -r f; do head -n1 "$f" | grep -qE '^#!.*\b(ba)?sh\b' && echo "$f"; done)
((${#shell_files[@]} == 0)) || run shellcheck "${shell_files[@]}"
exit $status
