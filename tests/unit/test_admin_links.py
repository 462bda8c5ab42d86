"""An alert links to the record in its platform's admin, and names the platform as people know it:
both come from the connector (``Connector.admin_url``, ``display_name``), none from the core."""

from __future__ import annotations

from types import SimpleNamespace

from hub.ops.admin_links import admin_url, platform_label


def test_each_platform_builds_its_own_admin_link_from_the_ids_its_pull_linked() -> None:
    shop = SimpleNamespace(shop="demo.myshopify.com")
    variant = {"product_id": "gid://shopify/Product/7", "variant_id": "gid://shopify/ProductVariant/42"}
    assert admin_url("shopify", shop, "prices", variant) == "https://demo.myshopify.com/admin/products/7/variants/42"
    assert admin_url("shopify", shop, "customers", {"customer_id": "gid://shopify/Customer/9"}) == (
        "https://demo.myshopify.com/admin/customers/9"
    )
    web = SimpleNamespace(url="https://shop.example/")
    variation = {"product_id": "31", "parent_id": "30"}
    assert (
        admin_url("woocommerce", web, "stock", variation)
        == "https://shop.example/wp-admin/post.php?post=30&action=edit"
    )


def test_no_link_without_ids_a_plain_id_or_a_platform_that_has_an_admin() -> None:
    shop = SimpleNamespace(shop="demo.myshopify.com")
    assert admin_url("shopify", shop, "prices", {}) is None
    assert admin_url("shopify", shop, "prices", {"product_id": "7?x=<script>"}) is None  # never a crafted URL
    assert admin_url("csv", SimpleNamespace(path="feeds"), "prices", {"row": "3"}) is None
    assert admin_url("no-such-type", shop, "prices", {"product_id": "7"}) is None


def test_platforms_are_named_as_people_know_them() -> None:
    assert [platform_label(t) for t in ("shopify", "woocommerce", "rest_wms", "csv")] == [
        "Shopify",
        "WooCommerce",
        "REST WMS",
        "CSV",
    ]
    assert platform_label("no-such-type") == "no-such-type"
