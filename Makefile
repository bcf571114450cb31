# Two entry points for a fresh machine (both install what they need first):
#   make demo   - the main job on the embedded default: validate, plan and render the demo box
#   make check  - typecheck, lint and the whole test suite (what CI runs)
.PHONY: deps demo check

IMAGEBUILD := node bin/imagebuild.js

deps:
	@bash scripts/install-deps.sh

demo: deps
	$(IMAGEBUILD) validate
	$(IMAGEBUILD) plan v1.0.0
	$(IMAGEBUILD) render

check: deps
	npm run check
