from __future__ import annotations

from pathlib import Path

import pytest

from lrmatrix.errors import BadInput
from lrmatrix.matrix.cells import CELL_NAME, load_matrix, parse_matrix

BASE = {
    "schema": "lrmatrix.matrix.cells/1",
    "timings": {"outage_window_s": 5},
    "axes": {"platform": ["engine"], "variant": ["liverestore", "noliverestore"]},
    "platforms": {"engine": {"driver": "engine", "daemon_json": {"log-driver": "json-file"}}},
    "variants": {
        "liverestore": {"live_restore": True, "expect": "survive"},
        "noliverestore": {"live_restore": False, "expect": "outage"},
    },
}


def parse(**overrides):
    return parse_matrix({**BASE, **overrides}, Path("m.toml"))


def test_repository_matrix_loads_and_every_name_matches_the_contract(root_dir):
    matrix = load_matrix(root_dir / "matrix")
    assert {"engine-liverestore", "engine-noliverestore"} <= set(matrix.names())
    assert all(CELL_NAME.match(n) for n in matrix.names())


def test_cells_come_from_axes_with_variant_expectations():
    m = parse()
    assert m.names() == ["engine-liverestore", "engine-noliverestore"]
    assert m.cell("engine-liverestore").expect == "survive"
    assert m.cell("engine-liverestore").live_restore is True
    assert m.cell("engine-noliverestore").expect == "outage"
    assert m.cell("engine-noliverestore").timings.outage_window_s == 5.0
    assert m.cell("engine-noliverestore").daemon_json == {"log-driver": "json-file"}


def test_extra_cell_overrides_expectation_and_daemon_json():
    m = parse(cells={"engine-liverestore-noproxy": {"daemon_json": {"userland-proxy": False}}})
    cell = m.cell("engine-liverestore-noproxy")
    assert cell.daemon_json == {"log-driver": "json-file", "userland-proxy": False}
    assert cell.extras == ("noproxy",)


def test_a_stall_cell_with_its_log_rate_over_a_second_or_more_loads():
    cell = parse(cells={"engine-liverestore-x": {"expect_stall": True, "timings": {"log_rate_min_s": 1}}})
    assert cell.cell("engine-liverestore-x").timings.log_rate_min_s == 1.0


def test_unknown_cell_lists_valid_ones():
    with pytest.raises(BadInput, match="valid cells: engine-liverestore, engine-noliverestore"):
        parse().cell("engine-nope")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"schema": "x"}, 'schema = "x" is not allowed'),
        ({"timings": {"outage_window_s": -1}}, "from 0.5 to 3600"),
        ({"timings": {"outage": 1}}, "unknown key 'outage'"),
        (
            {
                "variants": {
                    "liverestore": {"live_restore": True, "expect": "maybe"},
                    "noliverestore": {"live_restore": False, "expect": "outage"},
                }
            },
            'expect = "maybe" is not allowed',
        ),
        ({"cells": {"bad name": {}}}, "named <platform>-<variant>-<extra>"),
        ({"cells": {"engine-liverestore-x": {"daemon_json": {"live-restore": False}}}}, "set by the variant"),
        ({"axes": {"platform": ["k8s999"], "variant": ["liverestore"]}}, "no \\[platforms.k8s999\\] table"),
        (
            {"cells": {"engine-liverestore-x": {"expect_paths": {"node": "survive"}}}},
            "use one of loopback, pod",
        ),
        (
            {"cells": {"engine-liverestore-x": {"expect_paths": {"loopback": "fine"}}}},
            'use one of "survive", "outage"',
        ),
        ({"cells": {"engine-liverestore-x": {"stop_signal": "SIGHUP"}}}, "stop_signal"),
        ({"cells": {"engine-liverestore-x": {"expect_stall": True}}}, "add log_rate_min_s = 2.0"),
        (
            {"cells": {"engine-liverestore-x": {"expect_stall": True, "timings": {"log_rate_min_s": 0.5}}}},
            "less than 1 s of the load",
        ),
    ],
)
def test_bad_matrix_is_one_line_naming_the_fault(overrides, message):
    with pytest.raises(BadInput, match=message):
        parse(**overrides)
