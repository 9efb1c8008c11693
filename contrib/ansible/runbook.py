#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT licence, as the rest of runbook.
"""Ansible module: run a `runbook` runbook on the target and map its JSON report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: runbook
short_description: Run an operations runbook with the target's own runbook and policy
description:
  - Runs C(runbook run NAME --json) on the target host, with the target's installed C(runbook)
    and its own C(runbook.toml) (the host's policy is the authority there).
  - C(failed) when the report's status is C(failed), C(error), C(denied) or C(limit), or when no
    report came back; C(changed) when an effect was C(done) (in check mode, when one was
    C(planned)); check mode runs with C(--dry-run). The report is returned under C(report).
  - An C(inconclusive) run (a check with missing data) is not failed; it adds a warning.
options:
  name:
    description: Runbook name (or path to a .rhai file on the target).
    required: true
    type: str
  params:
    description: Runbook parameters; each becomes C(-p KEY=VALUE), passed as an argument list, never through a shell.
    type: dict
    default: {}
  dry_run:
    description: Plan effects without executing them (always on in check mode).
    type: bool
    default: false
  timeout:
    description: Wall-clock limit in seconds (C(--timeout)); the host's policy applies otherwise.
    type: int
  binary:
    description: The runbook program on the target.
    type: str
    default: runbook
  chdir:
    description: Working folder on the target (where C(./runbook.toml) and C(./runbooks) are looked up).
    type: path
author: runbook maintainers
"""

EXAMPLES = r"""
- name: Health check on every web host
  runbook:
    name: health-check

- name: Restart where unresponsive, one host at a time
  hosts: web
  serial: 1
  max_fail_percentage: 0
  tasks:
    - runbook:
        name: service-unresponsive
        params:
          service: lowcode-platform
"""

RETURN = r"""
report:
  description: The runbook's JSON report (runbook, params, status, exit_code, checks, effects, output, started, duration_ms, error).
  returned: when the runbook ran
  type: dict
rc:
  description: Exit code of runbook (0 ok, 1 check failed, 2 usage, 3 limit, 4 denied, 5 script error, 6 inconclusive).
  returned: always
  type: int
status:
  description: The report's status word.
  returned: when the runbook ran
  type: str
"""

import json

from ansible.module_utils.basic import AnsibleModule

FAILED_STATUSES = ("failed", "error", "denied", "limit")


def build_command(binary, name, params, dry_run, timeout):
    """The argument list for runbook (no shell)."""
    cmd = [binary, "run", name, "--json"]
    for key in sorted(params or {}):
        value = params[key]
        if isinstance(value, bool):
            value = "true" if value else "false"
        cmd.extend(["-p", "%s=%s" % (key, value)])
    if dry_run:
        cmd.append("--dry-run")
    if timeout is not None:
        cmd.extend(["--timeout", str(int(timeout))])
    return cmd


def summarise(report, check_mode):
    """(failed, changed, message) for a report."""
    status = report.get("status", "error")
    effects = report.get("effects") or []
    wanted = "planned" if check_mode else "done"
    changed = any(e.get("outcome") == wanted for e in effects)
    failed = status in FAILED_STATUSES
    checks = report.get("checks") or []
    bad = [c.get("name", "?") for c in checks if c.get("status") == "failed"]
    msg = "runbook %s: %s" % (report.get("runbook", "?"), status)
    if bad:
        msg += " (failed checks: %s)" % ", ".join(bad)
    if report.get("error"):
        msg += ": %s" % report["error"]
    return failed, changed, msg


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            params=dict(type="dict", default={}),
            dry_run=dict(type="bool", default=False),
            timeout=dict(type="int"),
            binary=dict(type="str", default="runbook"),
            chdir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    dry = bool(p["dry_run"] or module.check_mode)
    cmd = build_command(p["binary"], p["name"], p["params"], dry, p["timeout"])
    rc, out, err = module.run_command(cmd, cwd=p["chdir"], check_rc=False)
    try:
        report = json.loads(out)
    except ValueError:
        module.fail_json(
            msg="runbook returned no JSON report (exit %s): %s" % (rc, (err or out).strip()[-2000:]),
            rc=rc,
            cmd=cmd,
            stderr=err,
        )
    failed, changed, msg = summarise(report, module.check_mode)
    result = dict(changed=changed, report=report, rc=rc, status=report.get("status"), cmd=cmd, msg=msg)
    if report.get("status") == "inconclusive":
        module.warn("runbook %s was inconclusive: a check had no data" % p["name"])
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
