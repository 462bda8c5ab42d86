"""The GraphQL documents of orders and webhook subscriptions, with the API version each is sent to.

Kept apart from ``queries`` (whose tests pin its own list): ``tests/unit/test_shopify_orders.py``
validates every document here against each shipped schema it is sent to.

* ``orders`` pages sorted by ``UPDATED_AT``; one order costs 1 + ``lineItems`` (2 + 30 x 2) +
  ``fulfillmentOrders`` (2 + 3 x 4) = 77 points by Shopify's rules, so 12 a page stay under the
  single query limit of 1,000. An order of more than ``ORDER_LINES`` lines is refused by the pull.
* Webhook subscriptions name their address ``callbackUrl`` up to 2025-07 and ``uri`` from 2025-10
  (Shopify changelog "webhookSubscriptionCreate and webhookSubscriptionUpdate support all URI
  types", effective 2025-10; ``callbackUrl`` stays, deprecated, so an older document still runs
  when a retired version is answered as 2025-10).
"""

from __future__ import annotations

from connectors.shopify.queries import Document
from connectors.shopify.settings import version_at_least

__all__ = [
    "ORDERS",
    "ORDER_DOCUMENTS",
    "ORDER_LINES",
    "ORDER_PAGE",
    "WEBHOOK_URI_SINCE",
    "webhook_create_for",
    "webhook_list_for",
]

#: Orders per page and lines per order (see the cost above).
ORDER_PAGE = 12
ORDER_LINES = 30
#: The version whose ``WebhookSubscriptionInput`` has ``uri`` (``callbackUrl`` before).
WEBHOOK_URI_SINCE = "2025-10"

ORDERS = Document(
    "Orders",
    f"""
query Orders($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    nodes {{
      id name createdAt updatedAt cancelledAt closed displayFinancialStatus displayFulfillmentStatus
      lineItems(first: {ORDER_LINES}) {{
        nodes {{ id sku quantity currentQuantity unfulfilledQuantity variant {{ id }} }}
        pageInfo {{ hasNextPage }}
      }}
      fulfillmentOrders(first: 3) {{
        nodes {{ status assignedLocation {{ location {{ id }} }} deliveryMethod {{ methodType }} }}
      }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}""",
)

_CREATED = "webhookSubscription { id topic %s } userErrors { field message }"

WEBHOOKS_CALLBACK = Document(
    "Webhooks",
    """
query Webhooks($first: Int!, $after: String, $address: URL) {
  webhookSubscriptions(first: $first, after: $after, callbackUrl: $address) {
    nodes { id topic callbackUrl }
    pageInfo { hasNextPage endCursor }
  }
}""",
    replaced_in=WEBHOOK_URI_SINCE,
)

WEBHOOKS_URI = Document(
    "Webhooks",
    """
query Webhooks($first: Int!, $after: String, $address: String) {
  webhookSubscriptions(first: $first, after: $after, uri: $address) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}""",
    introduced=WEBHOOK_URI_SINCE,
)

WEBHOOK_CREATE_CALLBACK = Document(
    "WebhookCreate",
    f"""
mutation WebhookCreate($topic: WebhookSubscriptionTopic!, $address: URL!) {{
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {{callbackUrl: $address, format: JSON}}) {{
    {_CREATED % "callbackUrl"}
  }}
}}""",
    replaced_in=WEBHOOK_URI_SINCE,
)

WEBHOOK_CREATE_URI = Document(
    "WebhookCreate",
    f"""
mutation WebhookCreate($topic: WebhookSubscriptionTopic!, $address: String!) {{
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {{uri: $address, format: JSON}}) {{
    {_CREATED % "uri"}
  }}
}}""",
    introduced=WEBHOOK_URI_SINCE,
)

#: Every document of this module (the tests validate each against the versions it is sent to).
ORDER_DOCUMENTS: tuple[Document, ...] = (
    ORDERS,
    WEBHOOKS_CALLBACK,
    WEBHOOKS_URI,
    WEBHOOK_CREATE_CALLBACK,
    WEBHOOK_CREATE_URI,
)


def webhook_list_for(version: str) -> Document:
    return WEBHOOKS_URI if version_at_least(version, WEBHOOK_URI_SINCE) else WEBHOOKS_CALLBACK


def webhook_create_for(version: str) -> Document:
    return WEBHOOK_CREATE_URI if version_at_least(version, WEBHOOK_URI_SINCE) else WEBHOOK_CREATE_CALLBACK
