"""The GraphQL documents Palautus sends to the Shopify Admin API (version 2026-10).

Every upper-case string constant here that starts with `query` or `mutation` is
validated against Shopify's own schema in `tests/adapters/test_shopify_admin.py`,
so a misspelt field or a removed mutation fails the tests, not a merchant's refund.
Field notes (from the 2026-10 schema):

- `OrderTransaction.authorizationCode` is deprecated ("Use `paymentId` instead"), but
  `paymentId` is Shopify's own id: an API-created (headless checkout) transaction keeps
  the provider's id (a Stripe `pi_...`) only in `authorizationCode`, so it is read too.
- `Order.checkoutToken` is set only on orders Shopify's checkout created.
- `OrderTransaction.receiptJson` is gateway-specific and "not a stable contract";
  it is read only as a fallback for finding a Stripe PaymentIntent.
- `refundCreate`'s payload errors are plain `UserError` (no code); the return
  mutations answer with `ReturnUserError` whose `code` is a `ReturnErrorCode`.
"""
from __future__ import annotations

__all__ = [
    "ORDER_TRANSACTIONS",
    "ORDER_REFUNDS",
    "REFUNDS_BY_ID",
    "REFUND_CREATE",
    "GATEWAY_REFUND_CREATE",
    "GATEWAY_REFUND",
    "WEBHOOK_SUBSCRIPTIONS",
    "SHOP_PING",
    "WEBHOOK_SUBSCRIPTION_CREATE",
    "RETURN_APPROVE_REQUEST",
    "RETURN_DECLINE_REQUEST",
    "RETURN_CLOSE",
    "RETURN_CANCEL",
    "RETURN_STATUS",
    "TAGS_ADD",
    "ORDER_CANCEL",
    "ORDER_CANCELLED",
]

ORDER_TRANSACTIONS = """
query OrderTransactions($id: ID!) {
  order(id: $id) {
    id
    checkoutToken
    transactions {
      id
      kind
      status
      gateway
      paymentId
      authorizationCode
      receiptJson
      amountSet { presentmentMoney { amount currencyCode } }
      parentTransaction { id paymentId authorizationCode }
    }
  }
}
"""

# The order's refunds, read before every refund is planned: a refund made in the admin a moment
# ago (its webhook still on its way), one whose webhook came while its money was pending, or one made
# before Palautus knew the order. First the ids (and the transactions, to map a refund whose parent is
# an authorization to its capture), then REFUNDS_BY_ID, ten at a time, under Shopify's query cost.
ORDER_REFUNDS = """
query OrderRefunds($id: ID!) {
  order(id: $id) {
    id
    presentmentCurrencyCode
    refunds(first: 250) { id }
    transactions { id kind status parentTransaction { id } }
  }
}
"""

REFUNDS_BY_ID = """
query RefundsById($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Refund {
      id
      createdAt
      note
      return { id }
      refundLineItems(first: 25) { pageInfo { hasNextPage } nodes { quantity lineItem { id } } }
      refundShippingLines(first: 3) { nodes { id } }
      transactions(first: 5) {
        pageInfo { hasNextPage }
        nodes { kind status amountSet { presentmentMoney { amount currencyCode } } parentTransaction { id } }
      }
    }
  }
}
"""

REFUND_CREATE = """
mutation RefundCreate($input: RefundInput!, $idempotencyKey: String!) {
  refundCreate(input: $input) @idempotent(key: $idempotencyKey) {
    refund { id }
    userErrors { field message }
  }
}
"""

# The fields of a refund that moves money through Shopify's gateway: its refund transactions say
# whether the money went back (SUCCESS), may still go (PENDING, AWAITING_RESPONSE, UNKNOWN: a
# payments app settles later) or will not (FAILURE, ERROR). `Refund.transactions` is a connection.
_GATEWAY_REFUND_FIELDS = """
      id
      createdAt
      note
      transactions(first: 10) {
        pageInfo { hasNextPage }
        nodes {
          id kind status gateway errorCode processedAt
          amountSet { presentmentMoney { amount currencyCode } }
          parentTransaction { id }
        }
      }
"""

# refundCreate with `transactions`: Shopify refunds through the sale's own gateway (Shopify Payments,
# a payments app, a gift card), under a key (required since 2026-04) that returns the first refund again.
GATEWAY_REFUND_CREATE = (
    """
mutation GatewayRefundCreate($input: RefundInput!, $idempotencyKey: String!) {
  refundCreate(input: $input) @idempotent(key: $idempotencyKey) {
    refund {"""
    + _GATEWAY_REFUND_FIELDS
    + """    }
    userErrors { field message }
  }
}
"""
)

# One refund's state now: polled while its money is on its way.
GATEWAY_REFUND = (
    """
query GatewayRefund($id: ID!) {
  refund(id: $id) {"""
    + _GATEWAY_REFUND_FIELDS
    + """  }
}
"""
)

# Whether the app still has access to the shop (an app/uninstalled that may be a replay is checked with it).
SHOP_PING = """
query ShopPing {
  shop { id }
}
"""

# The app's webhook subscriptions to one address, made at install (`uri`: `callbackUrl` is deprecated).
WEBHOOK_SUBSCRIPTIONS = """
query WebhookSubscriptions($uri: String!) {
  webhookSubscriptions(first: 100, uri: $uri) {
    nodes { id topic uri }
  }
}
"""

WEBHOOK_SUBSCRIPTION_CREATE = """
mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""

RETURN_APPROVE_REQUEST = """
mutation ReturnApproveRequest($input: ReturnApproveRequestInput!) {
  returnApproveRequest(input: $input) {
    return { id status }
    userErrors { field message code }
  }
}
"""

RETURN_DECLINE_REQUEST = """
mutation ReturnDeclineRequest($input: ReturnDeclineRequestInput!) {
  returnDeclineRequest(input: $input) {
    return { id status }
    userErrors { field message code }
  }
}
"""

RETURN_CLOSE = """
mutation ReturnClose($id: ID!) {
  returnClose(id: $id) {
    return { id status }
    userErrors { field message code }
  }
}
"""

# returnCancel's notifyCustomer is not sent: its default is false (the 2026-10 schema), and Palautus tells the
# customer itself. (returnApproveRequest and returnDeclineRequest send it false explicitly.)
RETURN_CANCEL = """
mutation ReturnCancel($id: ID!) {
  returnCancel(id: $id) {
    return { id status }
    userErrors { field message code }
  }
}
"""

# Asked only after a return mutation answered with userErrors, to tell an
# idempotent re-run (the return is already in the target state) from a real refusal.
RETURN_STATUS = """
query ReturnStatus($id: ID!) {
  return(id: $id) { id status }
}
"""

TAGS_ADD = """
mutation TagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}
"""

# Cancelling an order the customer withdrew from before delivery (Directive 2011/83/EU, Art. 11a). The money goes
# back through Palautus's own refund, counted in its ledger, so the cancellation refunds nothing
# (`refundMethod.originalPaymentMethodsRefund: false`; `refund: Boolean` is deprecated in 2026-10); an
# authorization not captured yet "will be voided regardless of this setting" (the schema). Shopify cancels in
# a background job: the answer is the job.
ORDER_CANCEL = """
mutation OrderCancel($orderId: ID!, $reason: OrderCancelReason!, $restock: Boolean!, $notifyCustomer: Boolean,
                     $refundMethod: OrderCancelRefundMethodInput, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, restock: $restock, notifyCustomer: $notifyCustomer,
              refundMethod: $refundMethod, staffNote: $staffNote) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
"""

# Asked before cancelling and after a refusal: an order cancelled already (by the shop, or by an earlier run
# whose answer was lost) counts as done.
ORDER_CANCELLED = """
query OrderCancelled($id: ID!) {
  order(id: $id) { id cancelledAt }
}
"""
