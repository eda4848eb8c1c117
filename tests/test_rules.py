"""The rules of SPEC §4 on hand-made histories: each reason fires, and a near miss does not."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from pipeline.config import Config, Targets
from pipeline.records import Event, Person
from pipeline.results import Corrections
from pipeline.rules.assess import active_days, assess, target
from pipeline.rules.replay import WeekOutcome, replay
from pipeline.texts import t
from pipeline.weeks import Week

W48 = Week(2026, 48)  # 2026-11-23 .. 2026-11-29
CONFIG = Config()

ROSTER = {
    p.name: p
    for p in [
        Person("张伟", "manager", "一组", "", None, None),
        Person("王强", "manager", "二组", "", None, None),
        Person("老李", "manager", "一组", "", date(2026, 11, 25), date(2026, 11, 26)),
        Person("李娜", "salesperson", "一组", "", None, None),
        Person("赵六", "salesperson", "二组", "", None, None),
        Person("刘总", "leader", "一组", "", None, None),
    ]
}

_seq = iter(range(1, 10_000))


def ev(kind: str, at: str, who: str = "", phone: str = "", *, salesperson: str = "", amount: str = "",
       unit: str = "", photo: str = "p.jpg", run_id: str = "r1", row: int = 0) -> Event:
    seq = next(_seq)
    return Event(seq, run_id, kind, at, phone, who, salesperson, "", unit, unit.casefold().replace(" ", ""),
                 photo, "", "", amount, "", "", "f.xlsx", "S", row or seq)


def run_week(events: list[Event], roster: dict[str, Person] = ROSTER, history_start: str | None = None,
             run_id: str = "r1", weeks: list[Week] | None = None) -> Any:
    weeks = weeks or [W48]
    return replay(events, roster, weeks, history_start or weeks[0].start_iso, run_id, CONFIG)


def reasons(outcome: WeekOutcome) -> list[str]:
    return [r.reason for _, r in sorted(outcome.rejections, key=lambda x: x[0])]


def deals(outcome: WeekOutcome) -> list[dict[str, Any]]:
    """The week's deals as results.json has them."""
    return [d.to_json() for d in outcome.deals]


def assessed(*args: Any) -> dict[str, Any]:
    """A manager's entry of results.json `managers` (`assess`'s arguments)."""
    return assess(*args).to_json()


# ---- §4.1 leads


def test_lead_accepted_counts_and_owns() -> None:
    out = run_week([ev("leads", "2026-11-24T09:00:00", "张伟", "13800138000")])[0]
    assert (out.counts["张伟"]["leads"], reasons(out)) == (1, [])


def test_unknown_manager_and_near_miss_a_leader_is_not_a_manager() -> None:
    out = run_week([
        ev("leads", "2026-11-24T09:00:00", "刘总", "13800138000"),
        ev("leads", "2026-11-24T09:00:01", "无名", "13800138001"),
        ev("leads", "2026-11-24T09:00:02", "王强", "13800138002"),
    ])[0]
    assert reasons(out) == ["UNKNOWN_MANAGER", "UNKNOWN_MANAGER"]
    assert out.counts["王强"]["leads"] == 1


def test_inactive_manager_outside_roster_dates_inclusive() -> None:
    out = run_week([
        ev("leads", "2026-11-24T23:59:59", "老李", "13800138000"),   # the day before active_from
        ev("leads", "2026-11-25T00:00:00", "老李", "13800138001"),   # first active day: counts
        ev("leads", "2026-11-26T23:59:59", "老李", "13800138002"),   # last active day: counts
        ev("leads", "2026-11-27T00:00:00", "老李", "13800138003"),
    ])[0]
    assert reasons(out) == ["INACTIVE_MANAGER", "INACTIVE_MANAGER"]
    assert out.counts["老李"]["leads"] == 2


def test_duplicate_own_and_already_registered() -> None:
    out = run_week([
        ev("registrations", "2026-11-01T00:00:00", "自然到访", "13900000001"),
        ev("leads", "2026-11-24T09:00:00", "张伟", "13800138000"),
        ev("leads", "2026-11-24T10:00:00", "张伟", "13800138000"),
        ev("leads", "2026-11-24T11:00:00", "王强", "13800138000"),
        ev("leads", "2026-11-24T12:00:00", "王强", "13900000001"),
    ], history_start=W48.start_iso)[0]
    assert reasons(out) == ["DUPLICATE_OWN", "ALREADY_REGISTERED", "ALREADY_REGISTERED"]
    rejection = out.rejections[1][1]
    assert rejection.params == {"at": "2026-11-24", "owner": "张伟"}
    assert t("zh", "reason.ALREADY_REGISTERED", **rejection.message_args()) == "13800138000 已于 2026-11-24 由 张伟 登记"


def test_registration_at_the_same_second_comes_first() -> None:
    """Same time: registrations before other kinds, whatever the order read."""
    out = run_week([
        ev("leads", "2026-11-24T09:00:00", "张伟", "13800138000"),
        ev("registrations", "2026-11-24T09:00:00", "王强", "13800138000"),
    ])[0]
    assert reasons(out) == ["ALREADY_REGISTERED"]


def test_earlier_lead_wins_over_later_registration() -> None:
    out = run_week([
        ev("registrations", "2026-11-24T09:00:01", "王强", "13800138000"),
        ev("leads", "2026-11-24T09:00:00", "张伟", "13800138000"),
    ])[0]
    assert (reasons(out), out.counts["张伟"]["leads"]) == ([], 1)


# ---- §4.2 visits


def _owned(phone: str = "13800138000", who: str = "张伟") -> Event:
    return ev("leads", "2026-11-23T09:00:00", who, phone)


def test_visit_counts_when_owned_first_and_same_team() -> None:
    out = run_week([_owned(), ev("visits", "2026-11-24T10:00:00", "张伟", "13800138000", salesperson="李娜")])[0]
    assert (out.counts["张伟"]["visits"], reasons(out)) == (1, [])


def test_unknown_salesperson_and_other_team() -> None:
    out = run_week([
        _owned(),
        ev("visits", "2026-11-24T10:00:00", "张伟", "13800138000", salesperson="刘总"),
        ev("visits", "2026-11-24T11:00:00", "张伟", "13800138000", salesperson="赵六"),
    ])[0]
    assert reasons(out) == ["UNKNOWN_SALESPERSON", "SALESPERSON_OTHER_TEAM"]


def test_inactive_salesperson_still_counts() -> None:
    roster = {**ROSTER, "李娜": Person("李娜", "salesperson", "一组", "", None, date(2026, 1, 1))}
    out = run_week([_owned(), ev("visits", "2026-11-24T10:00:00", "张伟", "13800138000", salesperson="李娜")],
                   roster=roster)[0]
    assert out.counts["张伟"]["visits"] == 1


def test_not_registered_and_registered_at_the_visit_second() -> None:
    out = run_week([
        ev("visits", "2026-11-24T10:00:00", "张伟", "13800138000", salesperson="李娜"),
        ev("leads", "2026-11-24T10:00:00", "张伟", "13800138001"),
        ev("visits", "2026-11-24T10:00:00", "张伟", "13800138001", salesperson="李娜"),
    ])[0]
    # the lead was read before the visit at the same second: registered "at or before" it
    assert (reasons(out), out.counts["张伟"]["visits"]) == (["NOT_REGISTERED"], 1)


def test_registered_by_other() -> None:
    out = run_week([
        _owned(who="王强"),
        ev("visits", "2026-11-24T10:00:00", "张伟", "13800138000", salesperson="李娜"),
    ])[0]
    assert reasons(out) == ["REGISTERED_BY_OTHER"]


def test_not_first_visit_even_after_a_rejected_one() -> None:
    out = run_week([
        ev("visits", "2026-11-23T08:00:00", "张伟", "13800138000", salesperson="李娜"),  # NOT_REGISTERED
        _owned(),
        ev("visits", "2026-11-24T10:00:00", "张伟", "13800138000", salesperson="李娜"),
        ev("visits", "2026-11-24T10:00:00", "张伟", "13800138001", salesperson="李娜"),
    ])[0]
    assert reasons(out) == ["NOT_REGISTERED", "NOT_FIRST_VISIT", "NOT_REGISTERED"]


def test_history_visit_makes_later_visit_not_first() -> None:
    out = run_week([
        ev("registrations", "2026-10-01T00:00:00", "张伟", "13800138000"),
        ev("visits", "2026-10-02T00:00:00", "张伟", "13800138000", salesperson="李娜"),
        ev("visits", "2026-11-24T10:00:00", "张伟", "13800138000", salesperson="李娜"),
    ])[0]
    assert reasons(out) == ["NOT_FIRST_VISIT"]


# ---- §4.3 units


def test_units_photo_and_identity() -> None:
    out = run_week([
        ev("units", "2026-11-24T10:00:00", "张伟", unit="华为 公司"),
        ev("units", "2026-11-24T11:00:00", "王强", unit="华为公司"),
        ev("units", "2026-11-24T12:00:00", "王强", unit="腾讯", photo=""),
        ev("units", "2026-11-24T13:00:00", "王强", unit="腾讯"),   # near miss: the photo-less row did not count
    ])[0]
    assert reasons(out) == ["DUPLICATE_UNIT", "NO_PHOTO"]
    assert (out.counts["张伟"]["units"], out.counts["王强"]["units"]) == (1, 1)


# ---- §4.4 deals


def _deal(phone: str, amount: str, at: str = "2026-11-27T00:00:00", run_id: str = "r1") -> Event:
    return ev("deals", at, "", phone, salesperson="李娜", amount=amount, run_id=run_id)


def test_visit_commission_splits_half_up() -> None:
    out = run_week([
        _owned("13800138000"), _owned("13800138001"),
        ev("visits", "2026-11-24T10:00:00", "张伟", "13800138000", salesperson="李娜"),
        ev("visits", "2026-11-24T10:00:00", "张伟", "13800138001", salesperson="李娜"),
        _deal("13800138000", "4000.00"), _deal("13800138001", "4001.00"),
    ])[0]
    got = [(d["kind"], d["manager_commission"], d["salesperson_net"]) for d in deals(out)]
    assert got == [("visit", "2000.00", "2000.00"), ("visit", "2000.50", "2000.50")]
    assert out.commission["张伟"]["visit"] == Decimal("4000.50")


def test_half_cent_rounds_up() -> None:
    out = run_week([_owned(), ev("visits", "2026-11-24T10:00:00", "张伟", "13800138000", salesperson="李娜"),
                    _deal("13800138000", "0.01")])[0]
    assert deals(out)[0]["manager_commission"] == "0.01"


def test_lead_fee_when_no_counted_visit_before_the_deal() -> None:
    out = run_week([
        _owned(),
        _deal("13800138000", "4000.00", at="2026-11-24T09:00:00"),
        ev("visits", "2026-11-24T10:00:00", "张伟", "13800138000", salesperson="李娜"),
    ])[0]
    d = deals(out)[0]
    assert (d["kind"], d["manager_commission"], d["salesperson_net"], d["reason"]) == ("lead", "200.00", "4000.00", None)


def test_deal_not_registered_and_owner_not_manager() -> None:
    out = run_week([
        ev("registrations", "2026-11-01T00:00:00", "自然到访", "13900000001"),
        _deal("13900000001", "3000.00"), _deal("13900000009", "3000.00"),
    ], history_start=W48.start_iso)[0]
    got = [(d["manager"], d["kind"], d["manager_commission"], d["reason"]) for d in deals(out)]
    assert got == [(None, None, "0.00", "OWNER_NOT_MANAGER"), (None, None, "0.00", "NOT_REGISTERED")]


def test_manager_who_left_is_still_paid() -> None:
    roster = {**ROSTER, "张伟": Person("张伟", "manager", "一组", "", None, date(2026, 11, 1))}
    out = run_week([ev("leads", "2026-10-01T00:00:00", "张伟", "13800138000"), _deal("13800138000", "100")],
                   roster=roster, history_start="2026-11-23T00:00:00")[0]
    assert (deals(out)[0]["manager"], deals(out)[0]["kind"]) == ("张伟", "lead")


def test_history_deal_is_never_paid_and_late_deal_goes_to_first_week() -> None:
    weeks = [Week(2026, 48), Week(2026, 49)]
    out = replay([
        _owned(),
        _deal("13800138000", "100", at="2026-11-10T00:00:00", run_id="r2"),   # before history start: never
        _deal("13800138000", "100", at="2026-11-17T00:00:00", run_id="r2"),   # in a closed week, this run: late
        _deal("13800138000", "100", at="2026-11-18T00:00:00", run_id="r1"),   # closed week, earlier run: paid then
    ], ROSTER, weeks, "2026-11-16T00:00:00", "r2", CONFIG)
    assert [(d["deal_at"], d["late"]) for d in deals(out[0])] == [("2026-11-17T00:00:00", True)]
    assert out[1].deals == []


# ---- §4.5 assessment


def test_targets_prorated_exactly() -> None:
    assert [target(w, 5) for w in (100, 16, 3)] == [71, 11, 2]
    assert [target(w, 7) for w in (100, 16, 3)] == [100, 16, 3]
    # 3/7 = 0.43 → 0; 4/7 = 0.57 → 1; 16×6/7 = 13.71 → 14; 100×1/7 = 14.29 → 14
    assert [target(3, 1), target(1, 4), target(16, 6), target(100, 1), target(7, 0)] == [0, 1, 14, 14, 0]


def test_manager_with_no_rows_owes_560() -> None:
    entry = assessed(ROSTER["张伟"], W48, {}, {}, 0, CONFIG)
    assert entry["fines"] == {"leads": "100.00", "visits": "160.00", "units": "300.00", "total": "560.00"}
    assert (entry["net"], entry["met"], entry["streak"]) == ("-560.00", False, 1)


def test_five_active_days_give_71_11_2() -> None:
    person = Person("新人", "manager", "一组", "", date(2026, 11, 25), None)
    entry = assessed(person, W48, {}, {}, 0, CONFIG)
    assert (entry["active_days"], entry["targets"]) == (5, {"leads": 71, "visits": 11, "units": 2})


def test_holidays_are_not_active_days() -> None:
    config = Config(holidays=(date(2026, 11, 23), date(2026, 11, 24)))
    assert active_days(ROSTER["张伟"], W48, frozenset(config.holidays)) == 5


def test_met_resets_streak_and_dismissal_at_four() -> None:
    config = Config(targets=Targets(units=0, visits=0, leads=1))
    met = assessed(ROSTER["张伟"], W48, {"leads": 1}, {}, 3, config)
    failed = assessed(ROSTER["张伟"], W48, {}, {}, 3, config)
    assert (met["met"], met["streak"], met["dismissal_review"]) == (True, 0, False)
    assert (failed["met"], failed["streak"], failed["dismissal_review"]) == (False, 4, True)


def test_not_assessed_manager_has_zeros_but_commission() -> None:
    person = Person("走了", "manager", "一组", "", None, date(2026, 11, 1))
    entry = assessed(person, W48, {"leads": 5}, {"lead": Decimal("200")}, 2, CONFIG)
    assert entry["targets"] == {"leads": 0, "visits": 0, "units": 0}
    assert entry["achieved"] == {"leads": 0, "visits": 0, "units": 0}
    assert (entry["met"], entry["streak"], entry["net"], entry["commission"]["total"]) == (True, 0, "200.00", "200.00")


def test_net_is_commission_plus_clawback_plus_adjustment_minus_fines() -> None:
    """SPEC §7.7: a visit deal of 2,000.00 clawed back, an adjustment of 150.00 and the 560.00
    fines of an empty week give 2000 − 2000 + 150 − 560 = −410.00; each shown apart."""
    entry = assessed(ROSTER["张伟"], W48, {}, {"visit": Decimal("2000.00")}, 0, CONFIG,
                     Corrections(Decimal("-2000.00"), Decimal("150.00")))
    assert (entry["commission"]["total"], entry["clawback"], entry["adjustment"], entry["fines"]["total"],
            entry["net"]) == ("2000.00", "-2000.00", "150.00", "560.00", "-410.00")


def test_not_assessed_manager_with_only_a_correction_has_zeros_and_its_net() -> None:
    person = Person("走了", "manager", "一组", "", None, date(2026, 11, 1))
    entry = assessed(person, W48, {}, {}, 2, CONFIG, Corrections(Decimal("-200.00"), Decimal("0.00")))
    assert (entry["active_days"], entry["fines"]["total"], entry["met"], entry["streak"], entry["clawback"],
            entry["adjustment"], entry["net"]) == (0, "0.00", True, 0, "-200.00", "0.00", "-200.00")


@pytest.mark.parametrize("share,amount,expected", [("0.50", "4000", "2000.00"), ("0.30", "0.05", "0.02")])
def test_visit_share_is_configurable(share: str, amount: str, expected: str) -> None:
    from pipeline.config import Commission

    config = Config(commission=Commission(visit_share=Decimal(share)))
    out = replay([_owned(), ev("visits", "2026-11-24T10:00:00", "张伟", "13800138000", salesperson="李娜"),
                  _deal("13800138000", amount)], ROSTER, [W48], W48.start_iso, "r1", config)[0]
    assert deals(out)[0]["manager_commission"] == expected
