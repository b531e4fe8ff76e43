"""Code for child processes that evaluate Dagster automation the way its daemon does."""

from __future__ import annotations

import textwrap

#: Given `dg`, `defs` and `instance`: `tick(when)` evaluates each automation sensor of
#: `defs` on its own assets with its own cursor, as the daemon does, and returns sensor
#: name -> {asset path: partition keys} of what it requests.
TICK = textwrap.dedent(
    """
    sensors = {s.name: s for s in defs.sensors if isinstance(s, dg.AutomationConditionSensorDefinition)}
    cursors = {}

    def tick(when):
        requested = {}
        for name, sensor in sorted(sensors.items()):
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursors.get(name),
                                                       asset_selection=sensor.asset_selection, evaluation_time=when)
            cursors[name] = result.cursor
            requested[name] = {}
            for entity in result.results:
                if entity.true_subset.size and isinstance(entity.key, dg.AssetKey):
                    subset = entity.true_subset
                    keys = subset.expensively_compute_partition_keys() if subset.is_partitioned else []
                    requested[name]["/".join(entity.key.path)] = sorted(keys)
        return requested
    """
)
