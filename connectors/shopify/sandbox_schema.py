"""The slice of Shopify's Admin schema the sandbox serves, as SDL, per API version era.

Type and field names follow the real schema (validated documents must run here unchanged);
error code enums are plain strings, which serialize identically. Fields that exist only from a
later version (``defaultEmailAddress`` from 2025-04, ``changeFromQuantity`` and ``@idempotent``
from 2026-04) are added only to the schemas of those versions, so the sandbox refuses them on
older versions exactly as Shopify does.
"""

from __future__ import annotations

from functools import cache

from graphql import GraphQLSchema, build_schema

from connectors.shopify.queries import DEFAULT_EMAIL_SINCE, IDEMPOTENT_STOCK_SINCE
from connectors.shopify.settings import version_at_least

__all__ = ["schema_for"]

_CONNECTION_ARGS = "first: Int, after: String, last: Int, before: String, reverse: Boolean, query: String"

_BASE = f"""
scalar DateTime
scalar Money
scalar URL
scalar UnsignedInt64

interface Node {{ id: ID! }}

type PageInfo {{ hasNextPage: Boolean! hasPreviousPage: Boolean! endCursor: String startCursor: String }}
type Count {{ count: Int! precision: String! }}
type Shop {{ name: String! myshopifyDomain: String! }}

enum ProductStatus {{ ACTIVE ARCHIVED DRAFT }}
type Product implements Node {{ id: ID! title: String! handle: String! status: ProductStatus! }}

type ProductVariant implements Node {{
  id: ID! sku: String barcode: String title: String! displayName: String! price: Money! compareAtPrice: Money
  updatedAt: DateTime! product: Product! inventoryItem: InventoryItem! inventoryQuantity: Int
}}
type ProductVariantEdge {{ node: ProductVariant! cursor: String! }}
type ProductVariantConnection {{ nodes: [ProductVariant!]! edges: [ProductVariantEdge!]! pageInfo: PageInfo! }}

type InventoryItem implements Node {{
  id: ID! sku: String tracked: Boolean! variant: ProductVariant!
  inventoryLevel(locationId: ID!): InventoryLevel
  inventoryLevels({_CONNECTION_ARGS}): InventoryLevelConnection!
}}
type InventoryQuantity {{ id: ID! name: String! quantity: Int! updatedAt: DateTime }}
type InventoryLevel implements Node {{
  id: ID! item: InventoryItem! location: Location! quantities(names: [String!]!): [InventoryQuantity!]!
  createdAt: DateTime! updatedAt: DateTime!
}}
type InventoryLevelEdge {{ node: InventoryLevel! cursor: String! }}
type InventoryLevelConnection {{ nodes: [InventoryLevel!]! edges: [InventoryLevelEdge!]! pageInfo: PageInfo! }}

type Location implements Node {{
  id: ID! name: String! isActive: Boolean! inventoryLevels({_CONNECTION_ARGS}): InventoryLevelConnection!
}}
type LocationEdge {{ node: Location! cursor: String! }}
type LocationConnection {{ nodes: [Location!]! edges: [LocationEdge!]! pageInfo: PageInfo! }}

enum CustomerEmailMarketingState {{ NOT_SUBSCRIBED PENDING SUBSCRIBED UNSUBSCRIBED REDACTED INVALID }}
enum CustomerMarketingOptInLevel {{ SINGLE_OPT_IN CONFIRMED_OPT_IN UNKNOWN }}
type CustomerEmailMarketingConsentState {{
  marketingState: CustomerEmailMarketingState! marketingOptInLevel: CustomerMarketingOptInLevel
  consentUpdatedAt: DateTime
}}
type Customer implements Node {{
  id: ID! email: String firstName: String lastName: String phone: String tags: [String!]! updatedAt: DateTime!
  emailMarketingConsent: CustomerEmailMarketingConsentState __DEFAULT_EMAIL__
}}
type CustomerEmailAddress {{ emailAddress: String! marketingState: CustomerEmailMarketingState! }}
type CustomerEdge {{ node: Customer! cursor: String! }}
type CustomerConnection {{ nodes: [Customer!]! edges: [CustomerEdge!]! pageInfo: PageInfo! }}

enum BulkOperationStatus {{ CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }}
type BulkOperation implements Node {{
  id: ID! status: BulkOperationStatus! errorCode: String objectCount: UnsignedInt64! rootObjectCount: UnsignedInt64!
  url: URL partialDataUrl: URL query: String! createdAt: DateTime! completedAt: DateTime fileSize: UnsignedInt64
  type: String!
}}

type UserError {{ field: [String!] message: String! }}
type CodedUserError {{ code: String field: [String!] message: String! }}

type ProductVariantsBulkUpdatePayload {{
  product: Product productVariants: [ProductVariant!] userErrors: [CodedUserError!]!
}}
input ProductVariantsBulkInput {{ id: ID price: Money compareAtPrice: Money barcode: String }}

input InventoryQuantityInput {{ inventoryItemId: ID! locationId: ID! quantity: Int! __COMPARE_FIELD__ }}
input InventorySetQuantitiesInput {{
  name: String! reason: String! referenceDocumentUri: String quantities: [InventoryQuantityInput!]! __IGNORE_COMPARE__
}}
type InventoryAdjustmentGroup {{ id: ID! reason: String! }}
type InventorySetQuantitiesPayload {{
  inventoryAdjustmentGroup: InventoryAdjustmentGroup userErrors: [CodedUserError!]!
}}

input CustomerEmailMarketingConsentInput {{
  marketingState: CustomerEmailMarketingState! marketingOptInLevel: CustomerMarketingOptInLevel
  consentUpdatedAt: DateTime
}}
input CustomerInput {{
  id: ID email: String firstName: String lastName: String phone: String tags: [String!]
  emailMarketingConsent: CustomerEmailMarketingConsentInput
}}
input CustomerEmailMarketingConsentUpdateInput {{
  customerId: ID! emailMarketingConsent: CustomerEmailMarketingConsentInput!
}}
type CustomerPayload {{ customer: Customer userErrors: [UserError!]! }}
type CustomerConsentPayload {{ customer: Customer userErrors: [CodedUserError!]! }}
type BulkOperationRunQueryPayload {{ bulkOperation: BulkOperation userErrors: [CodedUserError!]! }}

type Query {{
  shop: Shop!
  node(id: ID!): Node
  productVariants({_CONNECTION_ARGS}, sortKey: String, savedSearchId: ID): ProductVariantConnection!
  productVariantsCount(query: String): Count
  locations({_CONNECTION_ARGS}, sortKey: String, includeLegacy: Boolean, includeInactive: Boolean): LocationConnection!
  location(id: ID): Location
  inventoryItem(id: ID!): InventoryItem
  customers({_CONNECTION_ARGS}, sortKey: String): CustomerConnection!
  customersCount(query: String): Count
  currentBulkOperation(type: String): BulkOperation
}}

type Mutation {{
  productVariantsBulkUpdate(
    productId: ID!, variants: [ProductVariantsBulkInput!]!, allowPartialUpdates: Boolean
  ): ProductVariantsBulkUpdatePayload
  inventorySetQuantities(input: InventorySetQuantitiesInput!): InventorySetQuantitiesPayload
  customerCreate(input: CustomerInput!): CustomerPayload
  customerUpdate(input: CustomerInput!): CustomerPayload
  customerEmailMarketingConsentUpdate(input: CustomerEmailMarketingConsentUpdateInput!): CustomerConsentPayload
  bulkOperationRunQuery(query: String!): BulkOperationRunQueryPayload
}}
"""


@cache
def _build(default_email: bool, idempotent: bool) -> GraphQLSchema:
    sdl = _BASE.replace("__DEFAULT_EMAIL__", "defaultEmailAddress: CustomerEmailAddress" if default_email else "")
    sdl = sdl.replace("__COMPARE_FIELD__", "changeFromQuantity: Int" if idempotent else "compareQuantity: Int")
    sdl = sdl.replace("__IGNORE_COMPARE__", "" if idempotent else "ignoreCompareQuantity: Boolean")
    if idempotent:
        sdl = "directive @idempotent(key: String!) on FIELD\n" + sdl
    return build_schema(sdl)


def schema_for(version: str) -> GraphQLSchema:
    """The sandbox schema as API ``version`` exposes it."""
    return _build(version_at_least(version, DEFAULT_EMAIL_SINCE), version_at_least(version, IDEMPOTENT_STOCK_SINCE))
