from __future__ import annotations

from routing.customer_sync import Known, Listed, plan

FABRIKAM = Listed(
    "aaaa-1", "Fabrikam BV", ("fabrikam.onmicrosoft.com", "fabrikam.example"), "reseller"
)
WINGTIP = Listed(
    "bbbb-2", "Wingtip Toys", ("wingtip.onmicrosoft.com", "wingtip.example"), "reseller"
)


def test_a_new_customer_is_added_with_an_id_from_its_name() -> None:
    result = plan([WINGTIP], by_hand=[], generated=[])
    (customer,) = result.customers
    assert (customer.id, customer.tenant, customer.domains) == (
        "wingtip-toys",
        "bbbb-2",
        ("wingtip.onmicrosoft.com", "wingtip.example"),
    )
    assert result.changes == (
        "added wingtip-toys: Wingtip Toys, wingtip.onmicrosoft.com, wingtip.example",
    )
    assert result.changed


def test_a_customer_written_by_hand_is_left_alone() -> None:
    by_tenant = Known("fabrikam", "Fabrikam", "fabrikam.onmicrosoft.com", ("fabrikam.example",))
    result = plan([FABRIKAM, WINGTIP], by_hand=[by_tenant], generated=[])
    assert [c.id for c in result.customers] == ["wingtip-toys"]
    assert result.changes[0].startswith(
        "skipped Fabrikam BV (aaaa-1): written by hand in config.toml as fabrikam"
    )
    by_domain = Known("fab", "Fabrikam", "", ("FABRIKAM.example",))
    assert "shares fabrikam.example" in plan([FABRIKAM], [by_domain], []).changes[0]


def test_ids_stay_and_changes_are_said() -> None:
    before = Known("wingtip", "Wingtip", "bbbb-2", ("wingtip.example",))
    result = plan([WINGTIP], by_hand=[], generated=[before])
    assert result.customers[0].id == "wingtip"
    assert result.changes == (
        "updated wingtip: name 'Wingtip' -> 'Wingtip Toys'; domains wingtip.example -> "
        "wingtip.onmicrosoft.com, wingtip.example",
    )
    same = Known("wingtip", "Wingtip Toys", "bbbb-2", WINGTIP.domains)
    again = plan([WINGTIP], [], [same])
    assert again.changes == ("unchanged wingtip",) and not again.changed


def test_a_customer_gone_from_partner_center_is_kept_and_marked() -> None:
    before = Known("wingtip", "Wingtip Toys", "bbbb-2", ("wingtip.example",))
    result = plan([], by_hand=[], generated=[before])
    assert result.customers[0].gone
    assert result.changes == ("kept wingtip: no longer listed by Partner Center",)


def test_ids_never_collide_and_odd_names_still_give_one() -> None:
    hand = Known("fabrikam-bv", "Other", "", ("other.example",))
    twin = Listed("cccc-3", "Fabrikam BV", ("fab2.onmicrosoft.com",), "reseller")
    result = plan([FABRIKAM, twin, Listed("dddd-4", "東京", ("tokyo.example",), "")], [hand], [])
    assert [c.id for c in result.customers] == ["fabrikam-bv-2", "fabrikam-bv-3", "tenant-dddd-4"]
    assert (
        plan([Listed("e", "Ĉafé Ñoño", ("cafe.example",), "")], [], []).customers[0].id
        == "cafe-nono"
    )
