"""Customers pulled through mappings compare in one canonical form: the same person written two ways
on two platforms is no mismatch, and a real difference still is one."""

from __future__ import annotations

from typing import Any

from hub.model.base import Entity
from hub.model.customers import Customer
from hub.plugins.contract import RawRecord
from hub.plugins.mapping import load_mapping
from hub.plugins.registry import connector_class
from hub.sync.reconcile import ReconcileInput, reconcile_group

EMAIL = "anna@example.com"
connector_class("csv")  # its package registers the transforms its mapping names


def _customer(country: str | None, **row: str) -> Customer:
    mapping = load_mapping("csv", country=country)[Entity.customers]
    record = mapping.to_canonical(RawRecord({"email": EMAIL, **row}))
    assert isinstance(record, Customer)
    return record


def _findings(truth: Customer, shop: Customer) -> list[tuple[str, Any, Any]]:
    job = ReconcileInput(
        entity=Entity.customers,
        source="crm",
        targets=["shop"],
        rules={},
        fields={"shop": list(Customer.compared_fields)},
    )
    findings, _, compared = reconcile_group(job, EMAIL, {"crm": [truth], "shop": [shop]})
    assert compared == 1
    return [(f.field, f.expected, f.actual) for f in findings]


CRM = {"first_name": "José", "last_name": "De Luca", "phone": "+39 347 1234567", "tags": "vip, big spender"}
#: The same person as another platform keeps them: local phone, decomposed accent, double space,
#: tags in another order.
SHOP = {"first_name": "Jose\u0301", "last_name": "De  Luca", "phone": "347 123 4567", "tags": "big spender,vip"}


def test_one_person_written_two_ways_is_no_mismatch_in_the_hubs_country() -> None:
    assert _findings(_customer("IT", **CRM), _customer("IT", **SHOP)) == []


def test_without_a_hub_country_a_local_number_is_compared_as_written() -> None:
    assert _findings(_customer(None, **CRM), _customer(None, **SHOP)) == [("phone", "+393471234567", "347 123 4567")]


def test_a_different_number_is_still_a_mismatch() -> None:
    other = {**SHOP, "phone": "347 765 4321"}
    assert _findings(_customer("IT", **CRM), _customer("IT", **other)) == [("phone", "+393471234567", "+393477654321")]


def test_the_hub_country_salts_the_mapping_fingerprint() -> None:
    # records stored under another country are read again, not trusted by their unchanged row hash
    assert load_mapping("csv", country="IT").fingerprint != load_mapping("csv", country="DE").fingerprint
    assert load_mapping("csv", country="IT").fingerprint != load_mapping("csv").fingerprint
