"""imagebuild guest programs' shared file access: where a guest path lives, and how a JSON result is written.

Imported by facts.py and run_checks.py, which Packer copies into the build VM together with this file
(the whole guest/ folder goes to /tmp/imagebuild-guest/); verify uploads it beside run_checks.py.

Python >= 3.9, standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any, Dict


def guest_path(path: str) -> str:
    """An absolute guest path, under IMAGEBUILD_GUEST_ROOT when tests set it to a recorded guest."""
    root = os.environ.get("IMAGEBUILD_GUEST_ROOT", "")
    return root.rstrip("/") + path if root else path


def write_json_atomic(path: str, data: Dict[str, Any]) -> None:
    """Writes `data` as JSON to a temp file beside `path`, then renames it over `path`: a reader sees all or nothing."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_result(program: str, path: str, data: Dict[str, Any]) -> int:
    """A guest program's last step: writes its JSON result atomically; the exit status (0, or 1 naming the file on stderr)."""
    try:
        write_json_atomic(path, data)
    except OSError as e:
        print("%s: cannot write %s: %s" % (program, path, e), file=sys.stderr)
        return 1
    return 0
