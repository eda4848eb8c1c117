"""results.json (SPEC §5.1) as one typed model: what a closed week stored reads back unchanged."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from pipeline.records import Source
from pipeline.results import WeekResults, corrections_by_manager
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
    stored = {**sample_report().results, "schema": 3}
    with pytest.raises(ValueError, match="schema 3"):
        WeekResults.from_json(stored)


def test_schema_1_results_read_back_as_schema_2_with_no_corrections() -> None:
    """A week closed before corrections existed (schema 1: no clawback, adjustment or lists)
    reads back as schema 2: zero clawback and adjustment for every manager, its net as stored,
    and the three lists empty."""
    stored = sample_report().results
    old = {k: v for k, v in stored.items() if k not in ("rulings", "clawbacks", "adjustments")}
    old["schema"] = 1
    old["managers"] = [{k: v for k, v in m.items() if k not in ("clawback", "adjustment")} for m in stored["managers"]]
    assert WeekResults.from_json(old).to_json() == stored


def test_corrections_round_trip_and_make_each_managers_pay() -> None:
    """A ruling, a clawback (with the deal it cancelled) and adjustments go through the model
    unchanged; each manager's clawback and adjustment are the sums of their own."""
    src = {"file": "退房记录.xlsx", "sheet": "Sheet1", "row": 2}
    doc = {**sample_report().results,
           "rulings": [{"source": src, "phone": "13800138000", "owner": "张伟", "previous_owner": None,
                        "ruled_at": "2026-11-26T10:00:00", "approved_by": "赵敏", "late": False}],
           "clawbacks": [{"source": src, "phone": "13800138000", "room": None, "cancelled_at": "2026-11-27T15:00:00",
                          "deal": {"source": {**src, "row": 5}, "deal_at": "2026-11-25T00:00:00", "room": "3-1201"},
                          "manager": "张伟", "amount": "-2000.00", "late": True},
                         {"source": {**src, "row": 3}, "phone": "13900139000", "room": "5-1", "cancelled_at":
                          "2026-11-28T15:00:00", "deal": {"source": {**src, "row": 6}, "deal_at": "2026-11-26T00:00:00",
                                                          "room": "5-1"}, "manager": None, "amount": "0.00",
                          "late": False}],
           "adjustments": [{"source": src, "manager": "张伟", "amount": "150.00", "adjusted_at": "2026-11-28T09:00:00",
                            "approved_by": "赵敏", "reason": "申诉成立", "late": False},
                           {"source": src, "manager": "张伟", "amount": "-0.01", "adjusted_at": "2026-11-28T09:00:00",
                            "approved_by": "赵敏", "reason": None, "late": False},
                           {"source": src, "manager": "王芳", "amount": "0.00", "adjusted_at": "2026-11-28T09:00:00",
                            "approved_by": "赵敏", "reason": None, "late": False}]}
    model = WeekResults.from_json(doc)
    assert json.dumps(model.to_json(), ensure_ascii=False) == json.dumps(doc, ensure_ascii=False)
    pay = corrections_by_manager(model.clawbacks, model.adjustments)
    assert {k: (str(v.clawback), str(v.adjustment)) for k, v in pay.items()} == {
        "张伟": ("-2000.00", "149.99"), "王芳": ("0.00", "0.00")}
