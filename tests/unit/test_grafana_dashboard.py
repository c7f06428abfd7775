"""deploy/grafana/invoicing-dashboard.json queries every metric the service exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from invoicing.observability import metrics

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "invoicing-dashboard.json"

#: defined by the worker (src/workers/metrics.py, src/workers/deliveries.py)
WORKER_METRICS = {
    "invoicing_commands_total",
    "invoicing_command_duration_seconds",
    "invoicing_transient_retries_total",
    "invoicing_dead_letters_total",
    "invoicing_delivery_steps_total",
    "invoicing_delivery_step_duration_seconds",
}
#: read at scrape time (src/observability/outbox.py) and the process info (exposure.py)
OTHER = {
    "invoicing_outbox_unpublished_rows",
    "invoicing_outbox_oldest_unpublished_age_seconds",
    "invoicing_process_info",
}


def exposed_names() -> set[str]:
    names = set()
    for value in vars(metrics).values():
        name = getattr(value, "_name", None)
        kind = getattr(value, "_type", None)
        if isinstance(name, str) and name.startswith("invoicing_"):
            names.add(f"{name}_total" if kind == "counter" else name)
    return names | WORKER_METRICS | OTHER


def test_every_metric_has_a_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    used = set(re.findall(r"invoicing_[a-z_]+", exprs))
    used = {re.sub(r"_(bucket|count|sum)$", "", n) for n in used}
    missing = exposed_names() - used
    assert not missing, f"metrics without a panel: {sorted(missing)}"
    assert len(exposed_names()) >= 17  # 8 here, 6 of the worker, 3 others
    unknown = used - exposed_names()
    assert not unknown, f"panels query metrics nobody exposes: {sorted(unknown)}"


def test_panels_do_not_overlap() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    cells = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))
