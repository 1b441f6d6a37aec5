"""Scaffold a consumer service: `dtmf-bus new-consumer --name billing --keys 3`.

Writes the service (services/<name>/, from the files in templates/), a unit test that
passes as generated (tests/unit/test_<name>_service.py) and its deployment:
deploy/k8s/base/<name>.yaml, rendered from the sales service's manifests as they are now,
listed in the base kustomization, a compose.yaml service declared like sales, and its
scrape target in deploy/monitoring/prometheus.yml. A
scaffolded service is interactive, like sales: its queue has a single active consumer, so
it runs as a fixed pair (active + standby) with no autoscaler. Everything is rendered and
checked before anything is written: a bad name, a bad key or an existing service changes
nothing.

The manifest and listing checks parse YAML with PyYAML, a development dependency: this is
a tool for a checkout (`make new-consumer` installs it), not for the service image.
"""

from tools.scaffold.names import ScaffoldError, check_name
from tools.scaffold.new_consumer import add_arguments, run, scaffold

__all__ = ["ScaffoldError", "add_arguments", "check_name", "run", "scaffold"]
