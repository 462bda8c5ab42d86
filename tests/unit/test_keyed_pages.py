"""Reading a spilled catalogue back: the stored JSON gives the very records pydantic would, and
pages of keys never split a key's records."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from hub.model.catalogue import Price, Product
from hub.model.records import json_dumper
from hub.state.keyed_pages import keyed_pages, stored_loader

_money = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999"), places=2)
_prices = st.builds(
    Price,
    sku=st.from_regex(r"[A-Z0-9-]{1,12}", fullmatch=True),
    amount=_money,
    currency=st.sampled_from(["EUR", "USD"]),
    compare_at=st.none() | _money,
    effective=st.none() | _money,
)
_products = st.builds(
    Product,
    sku=st.from_regex(r"[A-Z0-9-]{1,12}", fullmatch=True),
    title=st.none() | st.text(min_size=1, max_size=20).map(str.strip).filter(bool),
    group=st.none() | st.just("G-1"),
    options=st.dictionaries(st.sampled_from(["size", "colour"]), st.sampled_from(["S", "red"])),
    status=st.sampled_from(["active", "draft", "archived"]),
)


@given(_prices)
def test_a_stored_price_reads_back_as_pydantic_reads_it(price: Price) -> None:
    data = json_dumper(Price)(price)
    loaded = stored_loader(Price)(data)
    assert loaded.__dict__ == Price.model_validate_json(data).__dict__
    assert {type(v) for v in loaded.__dict__.values()} == {type(v) for v in price.__dict__.values()}


@given(_products)
def test_a_stored_product_reads_back_as_pydantic_reads_it(product: Product) -> None:
    data = json_dumper(Product)(product)
    assert stored_loader(Product)(data).__dict__ == Product.model_validate_json(data).__dict__


@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["truth", "a", "b"])), unique=True), st.integers(1, 5))
def test_pages_hold_whole_keys_and_leave_out_what_is_skipped(rows: list[tuple[int, str]], size: int) -> None:
    ordered = sorted((f"K{n:02d}", conn, f"{n}/{conn}") for n, conn in rows)
    skip = {("a", "K03")}
    pages = list(keyed_pages(ordered, str, "truth", ["a", "b"], skip, size))
    seen: list[tuple[str, str, str]] = []
    for truth, held in pages:
        keys = set(truth) | set(held["a"]) | set(held["b"])
        assert len(keys) <= size
        seen += [(k, "truth", v) for k, v in truth.items()]
        seen += [(k, c, v) for c in ("a", "b") for k, v in held[c].items()]
    assert sorted(seen) == [r for r in ordered if (r[1], r[0]) not in skip]
    page_keys = [set(t) | set(h["a"]) | set(h["b"]) for t, h in pages]
    for i, first in enumerate(page_keys):
        for later in page_keys[i + 1 :]:
            assert not first & later  # a key lies in one page only
