"""results.json (SPEC §5.1) as one typed model: what a closed week stored reads back unchanged."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from pipeline.records import Source
from pipeline.results import WeekResults
from tests.test_reports import sample_report


def test_stored_results_read_back_through_the_model_unchanged() -> None:
    """Every entry of a week's results (managers, paid and unpaid deals, reading and rule
    rejections, stats) goes through the typed model and comes out as the same text."""
    stored = sample_report().results
    model = WeekResults.from_json(stored)
    assert json.dumps(model.to_json(), ensure_ascii=False) == json.dumps(stored, ensure_ascii=False)
    zhang = next(m for m in model.managers if m.name == "张伟")
    assert (zhang.achieved.leads, zhang.fines.total, zhang.net, zhang.met) == (87, Decimal("213.00"), Decimal("1987.00"),
                                                                                False)
    unpaid = model.deals[-1]
    assert (unpaid.manager, unpaid.kind, unpaid.manager_commission, unpaid.reason) == (
        None, None, Decimal("0.00"), "NOT_REGISTERED")
    assert model.rejections[0].source == Source("号码.xlsx", "第48周", 12)
    assert model.stats.rejected == len(model.rejections)


def test_results_of_another_schema_are_refused() -> None:
    stored = {**sample_report().results, "schema": 2}
    with pytest.raises(ValueError, match="schema 2"):
        WeekResults.from_json(stored)
