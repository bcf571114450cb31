# Records the outcome of a playbook run as JSON for imagebuild's gates (e.g. "a second run changes
# nothing"), in the file named by $IMAGEBUILD_ANSIBLE_REPORT. Does nothing when that is unset.
from __future__ import annotations

import json
import os
import tempfile
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: imagebuild_report
    type: aggregate
    short_description: write per-run counts and changed tasks as JSON for imagebuild
    description:
      - Writes ok/changed/failed/unreachable/skipped counts per host and the names of changed and
        failed tasks to the file named by the IMAGEBUILD_ANSIBLE_REPORT environment variable.
    requirements:
      - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "imagebuild_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("IMAGEBUILD_ANSIBLE_REPORT")
        self._started = time.time()
        self._changed: list[dict[str, str]] = []
        self._failed: list[dict[str, str]] = []
        self._playbook = None

    def v2_playbook_on_start(self, playbook):
        self._playbook = os.path.basename(playbook._file_name)

    def _task(self, result):
        return {"host": result._host.get_name(), "task": result._task.get_name()}

    def v2_runner_on_ok(self, result):
        if result._result.get("changed", False):
            self._changed.append(self._task(result))

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            entry = self._task(result)
            entry["message"] = str(result._result.get("msg", ""))[:500]
            self._failed.append(entry)

    def v2_runner_on_unreachable(self, result):
        entry = self._task(result)
        entry["message"] = str(result._result.get("msg", ""))[:500]
        self._failed.append(entry)

    def v2_playbook_on_stats(self, stats):
        if not self._path:
            return
        hosts = {}
        for host in sorted(stats.processed.keys()):
            summary = stats.summarize(host)
            hosts[host] = {k: summary.get(k, 0) for k in ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")}
        report = {
            "format": 1,
            "playbook": self._playbook,
            "duration_s": round(time.time() - self._started, 3),
            "hosts": hosts,
            "changed_tasks": self._changed,
            "failed_tasks": self._failed,
        }
        directory = os.path.dirname(os.path.abspath(self._path))
        fd, tmp = tempfile.mkstemp(prefix=".imagebuild-report-", dir=directory)
        with os.fdopen(fd, "w") as handle:
            json.dump(report, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, self._path)
