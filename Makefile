# Two entry points for a fresh machine (both install what they need first):
#   make demo   - the main job on the embedded default: validate and plan the demo box, then build the
#                 GPU-less local-dev image for real (bootstrapped Debian 12, Packer + QEMU, verified boot)
#   make check  - typecheck, lint and the whole test suite (what CI runs)
.PHONY: deps demo check

IMAGEBUILD := node bin/imagebuild.js

deps:
	@bash scripts/install-deps.sh

demo: deps
	$(IMAGEBUILD) validate
	$(IMAGEBUILD) plan v1.0.0
	$(IMAGEBUILD) build v0.1.0 --spec manifests/local-dev.yaml --until-layer base

check: deps
	npm run check
