"""The rules of SPEC §4 on hand-made histories: each reason fires, and a near miss does not."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from pipeline.config import Config, Ownership, Targets, from_dict
from pipeline.records import Event, Person
from pipeline.results import Corrections
from pipeline.rules.assess import active_days, assess, target
from pipeline.rules.replay import Landings, WeekOutcome, replay
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
       unit: str = "", photo: str = "p.jpg", run_id: str = "r1", row: int = 0, room: str = "",
       approved_by: str = "", reason: str = "") -> Event:
    seq = next(_seq)
    return Event(seq, run_id, kind, at, phone, who, salesperson, "", unit, unit.casefold().replace(" ", ""),
                 photo, "", "", amount, room, "", approved_by, reason, "f.xlsx", "S", row or seq)


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


# ---- §7.2 rulings

W49 = Week(2026, 49)  # 2026-11-30 .. 2026-12-06
P = "13800138000"


def _visit_deal(phone: str = P, amount: str = "4000.00", at: str = "2026-11-25T15:00:00", room: str = "3-1201",
                who: str = "张伟") -> list[Event]:
    """A lead, a counted first visit and a deal of 4,000: a visit deal paying 2,000."""
    return [ev("leads", "2026-11-23T09:00:00", who, phone),
            ev("visits", "2026-11-24T10:00:00", who, phone, salesperson="李娜" if who == "张伟" else "赵六"),
            ev("deals", at, "", phone, salesperson="李娜", amount=amount, room=room)]


def test_ruling_needs_a_leader_and_changes_the_owner_from_its_time_on() -> None:
    """A ruling approved by a leader makes the named owner own the phone from its time on (the
    replaced owner is listed); approved by anyone else it is rejected NOT_APPROVED and changes
    nothing. It counts toward no target."""
    out = run_week([
        ev("leads", "2026-11-23T09:00:00", "张伟", P),
        ev("rulings", "2026-11-24T09:00:00", "王强", P, approved_by="张伟"),   # a manager is no approver
        ev("deals", "2026-11-24T10:00:00", "", P, salesperson="李娜", amount="4000.00"),
        ev("rulings", "2026-11-25T09:00:00", "王强", P, approved_by="刘总"),
        ev("deals", "2026-11-25T10:00:00", "", P, salesperson="李娜", amount="4000.00"),
        ev("leads", "2026-11-26T09:00:00", "张伟", P),
    ])[0]
    assert reasons(out) == ["NOT_APPROVED", "ALREADY_REGISTERED"]
    rejection = out.rejections[0][1]
    assert (rejection.manager, rejection.phone, rejection.params) == (None, P, {"approver": "张伟"})
    assert [(d.manager, d.kind) for d in out.deals] == [("张伟", "lead"), ("王强", "lead")]
    assert [r.to_json() for r in out.rulings] == [{
        "source": {"file": "f.xlsx", "sheet": "S", "row": out.rulings[0].source.row}, "phone": P, "owner": "王强",
        "previous_owner": "张伟", "ruled_at": "2026-11-25T09:00:00", "approved_by": "刘总", "late": False}]
    assert out.counts["王强"]["leads"] == 0


def test_ruling_of_an_unowned_phone_to_a_channel() -> None:
    """A ruling may name anyone: a channel owns the phone, and its deal pays no manager."""
    out = run_week([
        ev("rulings", "2026-11-24T09:00:00", "自然到访", P, approved_by="刘总"),
        ev("deals", "2026-11-25T10:00:00", "", P, salesperson="李娜", amount="4000.00"),
    ])[0]
    assert [(r.owner, r.previous_owner) for r in out.rulings] == [("自然到访", None)]
    assert [d.reason for d in out.deals] == ["OWNER_NOT_MANAGER"]


# ---- §7.3 cancellations


def test_visit_deal_cancelled_next_week_claws_back_2000() -> None:
    """A 4,000 visit deal paid 2,000 in W48; its cancellation in W49 claws back −2,000.00 from
    the manager, and W48 is not touched."""
    w48, w49 = run_week([*_visit_deal(), ev("cancellations", "2026-12-01T10:00:00", "", P, room="3-1201")],
                        weeks=[W48, W49])
    assert [d.manager_commission for d in w48.deals] == [Decimal("2000.00")]
    assert w48.clawbacks == [] and w49.deals == []
    (claw,) = w49.clawbacks
    assert claw.to_json() == {
        "source": {"file": "f.xlsx", "sheet": "S", "row": claw.source.row}, "phone": P, "room": "3-1201",
        "cancelled_at": "2026-12-01T10:00:00",
        "deal": {"source": {"file": "f.xlsx", "sheet": "S", "row": w48.deals[0].source.row},
                 "deal_at": "2026-11-25T15:00:00", "room": "3-1201"},
        "manager": "张伟", "amount": "-2000.00", "late": False}


def test_lead_deal_cancelled_claws_back_200() -> None:
    out = run_week([ev("leads", "2026-11-23T09:00:00", "张伟", P),
                    ev("deals", "2026-11-24T10:00:00", "", P, salesperson="李娜", amount="4000.00"),
                    ev("cancellations", "2026-11-26T10:00:00", "", P)])[0]
    assert [(c.manager, c.amount) for c in out.clawbacks] == [("张伟", Decimal("-200.00"))]


def test_empty_room_cancels_the_latest_deal_not_cancelled() -> None:
    """Two deals of one phone: a cancellation without a room takes the latest, the next one the
    earlier, a third finds them all cancelled: ALREADY_CANCELLED."""
    out = run_week([
        *_visit_deal(room="1-101", at="2026-11-25T10:00:00"),
        ev("deals", "2026-11-26T10:00:00", "", P, salesperson="李娜", amount="3000.00", room="1-102"),
        ev("cancellations", "2026-11-27T10:00:00", "", P),
        ev("cancellations", "2026-11-27T11:00:00", "", P),
        ev("cancellations", "2026-11-27T12:00:00", "", P),
    ])[0]
    assert [(c.deal.room, c.amount) for c in out.clawbacks] == [("1-102", Decimal("-1500.00")),
                                                                ("1-101", Decimal("-2000.00"))]
    assert reasons(out) == ["ALREADY_CANCELLED"]


def test_room_is_compared_as_a_unit_name_and_no_such_deal() -> None:
    """The room matches without white space and case (`3-1201 A` = `3-1201a`); another room, a
    phone without deals, or a deal only after the cancellation: NO_SUCH_DEAL."""
    out = run_week([
        *_visit_deal(room="3-1201 A"),
        ev("cancellations", "2026-11-25T14:00:00", "", P, room="3-1201a"),   # before the deal
        ev("cancellations", "2026-11-26T10:00:00", "", P, room="3-1202"),
        ev("cancellations", "2026-11-26T10:00:00", "", "13900000009"),
        ev("cancellations", "2026-11-26T11:00:00", "", P, room="3-1201a"),
        ev("cancellations", "2026-11-26T12:00:00", "", P, room="3-1201A"),
    ])[0]
    assert reasons(out) == ["NO_SUCH_DEAL", "NO_SUCH_DEAL", "NO_SUCH_DEAL", "ALREADY_CANCELLED"]
    assert [c.room for c in out.clawbacks] == ["3-1201a"]
    assert out.rejections[1][1].params == {"room": " 3-1202", "at": "2026-11-26 10:00:00"}


def test_deal_without_commission_or_from_history_claws_back_nothing() -> None:
    """A deal that paid no manager (not registered), and a history deal never paid: 0.00, no manager."""
    out = run_week([
        ev("deals", "2026-11-10T10:00:00", "", "13900000001", salesperson="李娜", amount="4000.00"),
        ev("deals", "2026-11-24T10:00:00", "", P, salesperson="李娜", amount="4000.00"),
        ev("cancellations", "2026-11-25T10:00:00", "", P),
        ev("cancellations", "2026-11-25T10:00:00", "", "13900000001"),
    ], history_start=W48.start_iso)[0]
    assert [(c.phone, c.manager, c.amount) for c in out.clawbacks] == [(P, None, Decimal("0.00")),
                                                                       ("13900000001", None, Decimal("0.00"))]


def test_clawback_is_what_the_closed_week_paid_whatever_the_rules_say_now() -> None:
    """A deal paid in a week closed before this run: the clawback is what that week showed (from
    the stored results), though a late ruling would give the deal to someone else today."""
    deal = ev("deals", "2026-11-25T10:00:00", "", P, salesperson="李娜", amount="4000.00", run_id="r0")
    asked = []

    def paid_before(key: Any) -> tuple[str | None, str]:
        asked.append(key)
        return "张伟", "2000.00"

    events = [ev("leads", "2026-11-23T09:00:00", "张伟", P, run_id="r0"), deal,
              ev("rulings", "2026-11-24T09:00:00", "王强", P, approved_by="刘总", run_id="r1"),
              ev("cancellations", "2026-12-01T10:00:00", "", P, run_id="r1")]
    (w49,) = replay(events, ROSTER, [W49], W48.start_iso, "r1", CONFIG, paid_before=paid_before)
    assert asked == [(P, "2026-11-25T10:00:00", "", "李娜", "4000.00")]
    assert [(c.manager, c.amount, c.late) for c in w49.clawbacks] == [("张伟", Decimal("-2000.00"), False)]
    assert [(r.owner, r.previous_owner, r.late) for r in w49.rulings] == [("王强", "张伟", True)]


def test_a_cancellation_keeps_the_outcome_it_had_when_it_landed() -> None:
    """A cancellation rejected NO_SUCH_DEAL in W48 (closed) never cancels a deal dated before it
    that arrives later: the late deal is paid in W49 and a new cancellation row cancels it."""
    cancel = ev("cancellations", "2026-11-27T10:00:00", "", P, run_id="r0")
    late_deal = ev("deals", "2026-11-26T10:00:00", "", P, salesperson="李娜", amount="4000.00", run_id="r1")
    events = [ev("leads", "2026-11-23T09:00:00", "张伟", P, run_id="r0"), cancel, late_deal,
              ev("cancellations", "2026-12-02T10:00:00", "", P, run_id="r1")]
    landings = Landings({W48.start_iso: cancel.seq}, {"r0": W48.start_iso})
    (w49,) = replay(events, ROSTER, [W49], W48.start_iso, "r1", CONFIG, landings=landings)
    assert [(d.manager_commission, d.late) for d in w49.deals] == [(Decimal("200.00"), True)]
    assert [(c.amount, c.cancelled_at) for c in w49.clawbacks] == [(Decimal("-200.00"), "2026-12-02T10:00:00")]
    assert reasons(w49) == []
    # without what the landing saw, the old row would have taken the deal
    (again,) = replay(events, ROSTER, [W49], W48.start_iso, "r1", CONFIG)
    assert reasons(again) == ["ALREADY_CANCELLED"]


def test_late_corrections_land_in_the_first_week_computed() -> None:
    """Corrections of this run dated in a closed week land in the first week computed, late; a
    rejection of one is reported there too; history corrections are never reported."""
    (w49,) = run_week([
        *_visit_deal(),
        ev("adjustments", "2026-11-10T10:00:00", "张伟", amount="100.00", approved_by="刘总"),   # history
        ev("adjustments", "2026-11-26T10:00:00", "张伟", amount="-50.00", approved_by="刘总"),
        ev("adjustments", "2026-11-26T11:00:00", "张伟", amount="50.00", approved_by="王强"),
        ev("cancellations", "2026-11-27T10:00:00", "", P),
    ], history_start=Week(2026, 47).start_iso, weeks=[W49])
    assert [(a.amount, a.late) for a in w49.adjustments] == [(Decimal("-50.00"), True)]
    assert [(c.amount, c.late) for c in w49.clawbacks] == [(Decimal("-2000.00"), True)]
    assert reasons(w49) == ["NOT_APPROVED"]


# ---- §7.4 adjustments


def test_adjustment_unknown_manager_not_approved_and_accepted() -> None:
    """The manager must be a roster manager (a leaver too), the approver a roster leader."""
    out = run_week([
        ev("adjustments", "2026-11-24T09:00:00", "无名", amount="150.00", approved_by="刘总"),
        ev("adjustments", "2026-11-24T09:00:00", "刘总", amount="150.00", approved_by="刘总"),
        ev("adjustments", "2026-11-24T09:00:00", "张伟", amount="150.00", approved_by="王强"),
        ev("adjustments", "2026-11-24T09:00:00", "老李", amount="-80.50", approved_by="刘总",
           reason="号码登记时间有误"),
        ev("adjustments", "2026-11-24T09:00:00", "张伟", amount="0.00", approved_by="刘总"),
    ])[0]
    assert reasons(out) == ["UNKNOWN_MANAGER", "UNKNOWN_MANAGER", "NOT_APPROVED"]
    assert out.rejections[2][1].manager == "张伟"
    assert [a.to_json() for a in out.adjustments] == [
        {"source": {"file": "f.xlsx", "sheet": "S", "row": out.adjustments[0].source.row}, "manager": "老李",
         "amount": "-80.50", "adjusted_at": "2026-11-24T09:00:00", "approved_by": "刘总",
         "reason": "号码登记时间有误", "late": False},
        {"source": {"file": "f.xlsx", "sheet": "S", "row": out.adjustments[1].source.row}, "manager": "张伟",
         "amount": "0.00", "adjusted_at": "2026-11-24T09:00:00", "approved_by": "刘总", "reason": None,
         "late": False}]


@pytest.mark.parametrize("reason", ["NOT_APPROVED", "NO_SUCH_DEAL", "ALREADY_CANCELLED", "PROTECTION_EXPIRED"])
def test_new_reasons_are_worded_in_both_languages(reason: str) -> None:
    args = {"manager": "张伟", "phone": P, "approver": "王强", "room": " 3-1201", "at": "2026-11-26 10:00:00",
            "owner": "张伟", "lapsed": "2026-11-30 10:00:00"}
    assert all(t(lang, f"reason.{reason}", **args) for lang in ("zh", "en"))


# ---- §7.5 the protection window

SEVEN = Config(ownership=Ownership(protection_days=7))


def _seven(events: list[Event], config: Config = SEVEN, weeks: list[Week] | None = None) -> list[WeekOutcome]:
    weeks = weeks or [W48, W49]
    return replay(events, ROSTER, weeks, weeks[0].start_iso, "r1", config)


def test_lead_without_a_visit_is_owned_seven_days_to_the_second() -> None:
    """protection_days = 7: a lead of Monday 10:00 with no visit is still owned the next Monday
    at 10:00:00 (ALREADY_REGISTERED), and lapsed at 10:00:01: a visit is PROTECTION_EXPIRED, a
    deal pays nobody (PROTECTION_EXPIRED), and a new lead by anyone is accepted."""
    w48, w49 = _seven([
        ev("leads", "2026-11-23T10:00:00", "张伟", P),
        ev("leads", "2026-11-23T10:00:00", "张伟", "13900000005"),   # nobody's in W49's ledger
        ev("leads", "2026-11-30T10:00:00", "王强", P),
        ev("visits", "2026-11-30T10:00:01", "张伟", P, salesperson="李娜"),
        ev("deals", "2026-11-30T10:00:02", "", P, salesperson="李娜", amount="4000.00"),
        ev("leads", "2026-11-30T10:00:03", "王强", P),
        ev("deals", "2026-11-30T10:00:04", "", P, salesperson="李娜", amount="4000.00"),
    ])
    assert reasons(w49) == ["ALREADY_REGISTERED", "PROTECTION_EXPIRED"]
    assert w49.rejections[1][1].params == {"owner": "张伟", "lapsed": "2026-11-30 10:00:00"}
    w48_ledger = {phone: owner for phone, _c, owner, *_ in w48.ledger.rows()}
    w49_ledger = {phone: owner for phone, _c, owner, *_ in w49.ledger.rows()}
    assert (w48_ledger[P], w49_ledger[P]) == ("张伟", "王强")
    assert (w48_ledger["13900000005"], w49_ledger["13900000005"]) == ("张伟", "")
    assert [(d.manager, d.reason) for d in w49.deals] == [(None, "PROTECTION_EXPIRED"), ("王强", None)]
    assert w49.counts["王强"]["leads"] == 1


def test_a_visit_by_the_lapse_moment_keeps_the_ownership() -> None:
    """A counted visit at the lapse moment itself (inclusive) keeps the phone for good; the
    same lead's own manager may submit it again once it lapsed; with no window nothing lapses."""
    _, w49 = _seven([
        ev("leads", "2026-11-23T10:00:00", "张伟", P),
        ev("visits", "2026-11-30T10:00:00", "张伟", P, salesperson="李娜"),
        ev("leads", "2026-11-30T10:00:03", "王强", P),
        ev("leads", "2026-11-23T10:00:00", "张伟", "13900000001"),
        ev("leads", "2026-12-01T10:00:00", "张伟", "13900000001"),
    ])
    assert reasons(w49) == ["ALREADY_REGISTERED"]
    assert w49.counts["张伟"]["leads"] == 1
    (_, never) = _seven([ev("leads", "2026-11-23T10:00:00", "张伟", P),
                         ev("leads", "2026-12-06T10:00:00", "王强", P)], config=CONFIG)
    assert reasons(never) == ["ALREADY_REGISTERED"]


def test_registrations_and_rulings_never_lapse_and_a_registration_after_a_lapse_owns() -> None:
    """Ownership from a registrations row or a ruling never lapses; a registration dated after a
    lapse makes its registered_by the owner (the ordinary rules again); a ruling over a lapsed
    ownership replaces nobody."""
    _, w49 = _seven([
        ev("registrations", "2026-11-23T10:00:00", "张伟", "13900000001"),
        ev("leads", "2026-12-02T10:00:00", "王强", "13900000001"),
        ev("leads", "2026-11-23T10:00:00", "张伟", P),
        ev("registrations", "2026-12-01T09:00:00", "自然到访", P),
        ev("visits", "2026-12-01T10:00:00", "张伟", P, salesperson="李娜"),
        ev("leads", "2026-11-23T10:00:00", "张伟", "13900000002"),
        ev("rulings", "2026-12-01T10:00:00", "王强", "13900000002", approved_by="刘总"),
        ev("leads", "2026-12-09T10:00:00", "张伟", "13900000002"),
    ], weeks=[W48, W49])
    assert reasons(w49) == ["ALREADY_REGISTERED", "REGISTERED_BY_OTHER"]
    assert [(r.owner, r.previous_owner) for r in w49.rulings] == [("王强", None)]


def test_protection_days_is_the_value_in_force_at_the_leads_time() -> None:
    """A `[[changes]]` entry from W49 sets 1 day: a lead of W48 keeps the base window (none), a
    lead of W49 lapses after 24 hours."""
    config = from_dict({"changes": [{"from": "2026-11-30", "ownership": {"protection_days": 1}}]})
    _, w49 = _seven([
        ev("leads", "2026-11-23T10:00:00", "张伟", P),
        ev("leads", "2026-11-30T10:00:00", "张伟", "13900000001"),
        ev("leads", "2026-12-05T10:00:00", "王强", P),
        ev("leads", "2026-12-05T10:00:00", "王强", "13900000001"),
    ], config=config)
    assert reasons(w49) == ["ALREADY_REGISTERED"]
    assert w49.counts["王强"]["leads"] == 1
