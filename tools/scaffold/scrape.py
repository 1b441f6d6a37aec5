"""A new service's scrape target: deploy/monitoring/prometheus.yml's dtmf-bus job gains
`<name>:8000` (its compose service name and the metrics port). Edited as text, so every
other line and comment stays as it is, then parsed again to check that only the target
was added."""

from __future__ import annotations

import re
from typing import Any

from tools.scaffold.names import ScaffoldError

JOB = "dtmf-bus"
PORT = 8000  # DTMF_HTTP_PORT's default, which compose runs every service with
WHERE = "deploy/monitoring/prometheus.yml"

_JOB_LINE = re.compile(r"\s*-\s+job_name:\s*['\"]?" + re.escape(JOB) + r"['\"]?\s*(#.*)?")
_TARGETS_LINE = re.compile(r"\s*-\s+targets:\s*(#.*)?")
_TARGET_ITEM = re.compile(r"(\s*)-\s+(['\"]?)([A-Za-z0-9_.-]+:\d+)\2\s*(#.*)?")


def target(name: str) -> str:
    return f"{name}:{PORT}"


def static_targets(config: dict[str, Any]) -> list[str]:
    """The dtmf-bus job's static targets, in order."""
    jobs = [job for job in config.get("scrape_configs") or [] if job.get("job_name") == JOB]
    if len(jobs) != 1:
        raise ScaffoldError(f"{WHERE} has no single scrape job named {JOB!r}")
    return [t for group in jobs[0].get("static_configs") or [] for t in group["targets"]]


def listed_target(text: str, name: str) -> bool:
    import yaml  # a development dependency, like this tool; the service image has none

    return target(name) in static_targets(yaml.safe_load(text))


def add_scrape_target(text: str, name: str) -> str:
    """Append `<name>:8000` to the first static target list of the dtmf-bus job."""
    import yaml

    lines = text.splitlines(keepends=True)
    job = next((i for i, line in enumerate(lines) if _JOB_LINE.fullmatch(line.rstrip())), None)
    if job is None:
        raise ScaffoldError(f"{WHERE} has no `- job_name: {JOB}` scrape job")
    start = next(
        (i for i in range(job + 1, len(lines)) if _TARGETS_LINE.fullmatch(lines[i].rstrip())),
        None,
    )
    items = []
    for i in range(start + 1 if start is not None else len(lines), len(lines)):
        stripped = lines[i].strip()
        if _TARGET_ITEM.fullmatch(lines[i].rstrip()):
            items.append(i)
        elif items or (stripped and not stripped.startswith("#")):
            break  # the list's end: the next key, or a comment after the last item
    if not items:
        raise ScaffoldError(f"{WHERE}: the {JOB} job has no `- targets:` list of host:port")
    match = _TARGET_ITEM.fullmatch(lines[items[-1]].rstrip())
    indent = match.group(1) if match else "          "
    lines.insert(items[-1] + 1, f"{indent}- {target(name)}\n")
    new = "".join(lines)
    before, after = yaml.safe_load(text), yaml.safe_load(new)
    if static_targets(after) != [*static_targets(before), target(name)] or _without_targets(
        after
    ) != _without_targets(before):
        raise ScaffoldError(f"adding {target(name)} to {WHERE} went wrong")
    return new


def _without_targets(config: dict[str, Any]) -> dict[str, Any]:
    def strip(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if k != "static_configs" or job["job_name"] != JOB}

    return {**config, "scrape_configs": [strip(job) for job in config["scrape_configs"]]}
