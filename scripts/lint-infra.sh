#!/usr/bin/env bash
# Lints what is not TypeScript: Ansible (ansible-lint, production profile), YAML (yamllint), shell
# (shellcheck) and the GitHub Actions workflows (actionlint through scripts/lint-workflows.mjs, which
# also shellchecks their run: blocks and first proves on broken workflows that it catches them).
# In CI a missing linter is an error; elsewhere it is skipped with a notice.
#   bash scripts/lint-infra.sh [ansible-lint|yamllint|shellcheck|workflows]...   (default: all four)
set -euo pipefail
cd "$(dirname "$0")/.."

linters=("$@")
((${#linters[@]} > 0)) || linters=(ansible-lint yamllint shellcheck workflows)
for linter in "${linters[@]}"; do
  case $linter in ansible-lint | yamllint | shellcheck | workflows) ;; *) echo "lint: unknown linter $linter (ansible-lint, yamllint, shellcheck, workflows)" >&2; exit 2 ;; esac
done
wanted() { [[ " ${linters[*]} " == *" $1 "* ]]; }

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

if wanted ansible-lint; then ANSIBLE_CONFIG=$PWD/ansible/ansible.cfg run ansible-lint --offline --nocolor -q ansible/; fi
if wanted yamllint; then run yamllint -s ansible/ manifests/ .github/ .yamllint; fi
if wanted shellcheck; then
  mapfile -t shell_files < <(git ls-files '*.sh' '.ci/run' 'test/fixtures/**/bin/*' 2>/dev/null | while read -r f; do head -n1 "$f" | grep -qE '^#!.*\b(ba)?sh\b' && echo "$f"; done)
  ((${#shell_files[@]} == 0)) || run shellcheck "${shell_files[@]}"
fi
if wanted workflows; then
  echo "lint: workflows"
  node scripts/lint-workflows.mjs --self-test || status=1
fi
exit $status
