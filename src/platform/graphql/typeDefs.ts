/**
 * The GraphQL contract for apps, the web checkout and the console. Enum values use the domain's
 * own lowercase names (`requires_action`, `succeeded`) so API, events and docs say the same
 * words. Every amount is a `Money` (SafeInt minor units beside its currency).
 */
export const typeDefs = /* GraphQL */ `
  scalar SafeInt
  scalar DateTime

  type Query {
    "A payment with its attempts, refunds and ledger entries."
    payment(id: ID!): Payment
    checkoutSession(id: ID!): CheckoutSession
    "A customer's payments, newest first (cursor pagination)."
    customerPayments(customerId: ID!, first: Int = 20, after: String): PaymentConnection!
    products: [Product!]!
    "Prices on sale; with country, only those a learner there can buy (global plus localized)."
    prices(country: String, currency: String, productId: ID): [Price!]!
    taxRates: [TaxRate!]!
    "Every ledger account's balance per currency; debits equal credits in each currency."
    trialBalance: TrialBalance!
    "Privileged actions, newest first (admin and finance)."
    auditLog(first: Int = 50, after: String, action: String, targetId: ID, actorSubject: String): AuditLogConnection!
    "Who the bearer token says you are."
    viewer: Viewer
    "A customer's entitlements with their history (a learner: their own; customerId defaults to them)."
    entitlements(customerId: ID): [Entitlement!]!
    "May the customer access the resource at \`at\` (default now)? The hot path: one primary-key read."
    checkAccess(customerId: ID, resource: String!, at: DateTime): AccessDecision!
    "checkAccess for up to 100 resources in one read, answered in the order asked."
    checkAccessBatch(customerId: ID, resources: [String!]!, at: DateTime): [AccessDecision!]!
    "The resources a customer holds at \`at\` (default now), e.g. for a learner's library."
    accessibleResources(customerId: ID, at: DateTime): [AccessibleResource!]!
  }

  enum EntitlementStatus { active revoked }
  enum EntitlementSourceKind { order subscription }
  enum EntitlementRevokeReason { refunded dispute_lost subscription_ended }
  enum EntitlementHistoryAction { granted extended revoked }

  type EntitlementSource {
    kind: EntitlementSourceKind!
    "The order (or later subscription) that granted it."
    id: ID!
  }

  type Entitlement {
    id: ID!
    customerId: ID!
    "course:<slug>, specialization:<slug> or catalog:all (which opens every course and specialization)."
    resource: String!
    source: EntitlementSource!
    productId: ID
    status: EntitlementStatus!
    revokeReason: EntitlementRevokeReason
    revokedAt: DateTime
    validFrom: DateTime!
    "Null: no end."
    validUntil: DateTime
    "Not revoked and inside its window now."
    activeNow: Boolean!
    history: [EntitlementHistoryEntry!]!
  }

  type EntitlementHistoryEntry {
    action: EntitlementHistoryAction!
    status: EntitlementStatus!
    validFrom: DateTime!
    validUntil: DateTime
    reason: EntitlementRevokeReason
    "The event that caused it."
    eventId: ID!
    occurredAt: DateTime!
    recordedAt: DateTime!
  }

  type AccessDecision {
    resource: String!
    allowed: Boolean!
    "What opens it: the resource itself or catalog:all."
    via: String
    "End of the access that answers (null: no end, or not allowed)."
    validUntil: DateTime
  }

  type AccessibleResource {
    resource: String!
    validUntil: DateTime
  }

  type Viewer {
    subject: String!
    roles: [String!]!
    customerId: ID
    kind: String!
  }

  type AuditEntry {
    id: ID!
    occurredAt: DateTime!
    actorSubject: String!
    actorRoles: [String!]!
    actorKind: String!
    action: String!
    targetType: String!
    targetId: ID!
    "JSON summaries of the target before and after the action."
    before: String
    after: String
    requestId: String
  }

  type AuditLogConnection {
    nodes: [AuditEntry!]!
    pageInfo: PageInfo!
  }

  type Mutation {
    createCheckoutSession(input: CreateCheckoutSessionInput!): CheckoutSessionPayload!
    confirmCheckoutSession(input: ConfirmCheckoutSessionInput!): ConfirmCheckoutSessionPayload!
    "Resumes a payment waiting for 3-D Secure. On the sandbox, outcome plays the cardholder's answer."
    completeThreeDSecureChallenge(input: ThreeDSecureChallengeInput!): PaymentPayload!
    "Sandbox: the cardholder fails (or abandons) the 3-D Secure challenge."
    failThreeDSecureChallenge(input: FailThreeDSecureChallengeInput!): PaymentPayload!
    capturePayment(input: CapturePaymentInput!): PaymentOperationPayload!
    voidPayment(input: VoidPaymentInput!): PaymentOperationPayload!
    refundPayment(input: RefundPaymentInput!): RefundPaymentPayload!
  }

  type Money {
    "Minor units (cents, yen, fils): never a float."
    amount: SafeInt!
    "ISO 4217 code."
    currency: String!
    "The amount as an exact decimal string in major units, e.g. 19.99."
    decimal: String!
  }

  enum CaptureMethod { automatic manual }

  input CheckoutItemInput {
    priceId: ID!
    quantity: Int!
  }

  input CreateCheckoutSessionInput {
    "The paying customer. A learner may omit it (it is then themselves); staff and services must give it."
    customerId: ID
    "ISO 3166-1 alpha-2 country of the learner."
    country: String!
    items: [CheckoutItemInput!]!
    couponCode: String
    captureMethod: CaptureMethod = automatic
    "Who pays: stored encrypted (AES-256-GCM), never logged."
    billingDetails: BillingDetailsInput
    idempotencyKey: String!
  }

  input BillingAddressInput {
    line1: String!
    line2: String
    city: String!
    postalCode: String!
    region: String
    country: String!
  }

  input BillingDetailsInput {
    name: String!
    email: String!
    address: BillingAddressInput!
  }

  type BillingAddress {
    line1: String!
    line2: String
    city: String!
    postalCode: String!
    region: String
    country: String!
  }

  type BillingDetails {
    name: String!
    email: String!
    address: BillingAddress!
  }

  input ConfirmCheckoutSessionInput {
    sessionId: ID!
    "The gateway's token for the payment method. Never a card number. Optional when the total is zero."
    paymentMethodToken: String
    "The card issuer's country (ISO 3166-1 alpha-2) as the gateway's client SDK reports it with the token (Stripe.js card.country). Decides PSD2 strong customer authentication only; left out, Obol authenticates where SCA may apply."
    cardCountry: String
    idempotencyKey: String!
  }

  enum ThreeDSecureOutcome { authenticated failed }

  input ThreeDSecureChallengeInput {
    paymentId: ID!
    "Sandbox only: what the cardholder does at the issuer. Omit for real gateways."
    outcome: ThreeDSecureOutcome = authenticated
    idempotencyKey: String!
  }

  input FailThreeDSecureChallengeInput {
    paymentId: ID!
    idempotencyKey: String!
  }

  input CapturePaymentInput {
    paymentId: ID!
    "Minor units; omit to capture everything authorized."
    amount: SafeInt
    idempotencyKey: String!
  }

  input VoidPaymentInput {
    paymentId: ID!
    idempotencyKey: String!
  }

  input RefundPaymentInput {
    paymentId: ID!
    "Minor units of the payment's currency; omit to refund everything still refundable."
    amount: SafeInt
    reason: String
    idempotencyKey: String!
  }

  enum CheckoutSessionStatus { open processing complete expired }

  type CheckoutSession {
    id: ID!
    customerId: ID!
    country: String!
    currency: String!
    status: CheckoutSessionStatus!
    captureMethod: CaptureMethod!
    lines: [CheckoutLine!]!
    subtotal: Money!
    discountTotal: Money!
    taxTotal: Money!
    total: Money!
    payment: Payment
    "Personal data: for the learner, support, services and admins (not finance)."
    billingDetails: BillingDetails
    orderId: ID
    expiresAt: DateTime!
    completedAt: DateTime
    createdAt: DateTime!
  }

  enum TaxBehavior { inclusive exclusive }
  enum BillingInterval { month year }

  type CheckoutLine {
    priceId: ID!
    productId: ID!
    productName: String!
    billingInterval: BillingInterval
    quantity: Int!
    unitAmount: Money!
    taxBehavior: TaxBehavior!
    "Tax rate in basis points of a percent: 2000 = 20 %."
    taxRateBps: Int!
    amountGross: Money!
    discount: Money!
    tax: Money!
    total: Money!
  }

  enum PaymentStatus {
    requires_payment_method
    requires_confirmation
    processing
    requires_action
    requires_capture
    succeeded
    canceled
    failed
  }

  enum DeclineClass { soft hard customer_action }

  type PaymentError {
    "The gateway's code, e.g. card_declined."
    code: String!
    "Obol's normalized reason, e.g. insufficient_funds."
    reason: String!
    declineClass: DeclineClass
  }

  enum PaymentInitiator { customer merchant }

  type NextAction {
    type: String!
    challengeId: String!
    redirectUrl: String!
  }

  type Payment {
    id: ID!
    status: PaymentStatus!
    customerId: ID!
    "The checkout session this payment pays for; null when it pays a subscription's invoice."
    checkoutSessionId: ID
    checkoutSession: CheckoutSession
    "The subscription invoice this payment pays for; null for a checkout's payment."
    invoiceId: ID
    "customer when the payer was present; merchant for a renewal charging a saved payment method."
    initiator: PaymentInitiator!
    captureMethod: CaptureMethod!
    connector: String
    amount: Money!
    amountAuthorized: Money!
    amountCaptured: Money!
    amountRefunded: Money!
    amountRefundable: Money!
    failedAttempts: Int!
    lastError: PaymentError
    nextAction: NextAction
    attempts: [PaymentAttempt!]!
    refunds: [Refund!]!
    operations: [PaymentOperation!]!
    "Chargebacks against this payment (they do not change its status)."
    disputes: [Dispute!]!
    ledgerTransactions: [JournalTransaction!]!
    createdAt: DateTime!
    updatedAt: DateTime!
  }

  type PaymentAttempt {
    id: ID!
    seq: Int!
    connector: String!
    status: String!
    amount: Money!
    gatewayReference: String
    declineCode: String
    declineReason: String
    declineClass: DeclineClass
    nextAction: NextAction
    "Why this attempt went to its connector: the routing rule, or the failover that led here."
    routing: String
    "What Obol asked the gateway about 3-D Secure: gateway_default, required, or exemption:<low_value|fixed_amount_recurring>."
    authentication: String
    "Why: the strong customer authentication decision, step by step."
    scaDecision: String
    "What 3-D Secure did on this attempt, once known."
    threeDSecure: ThreeDSecureOutcome
    createdAt: DateTime!
  }

  enum ThreeDSecureOutcome { frictionless challenge exempted failed not_attempted }

  enum DisputeStatus { opened won lost }

  type Dispute {
    id: ID!
    connector: String!
    gatewayDisputeId: String!
    status: DisputeStatus!
    reason: String
    amount: Money!
    "The gateway's dispute fee, when it charged one."
    fee: Money
    openedAt: DateTime!
    resolvedAt: DateTime
  }

  type PaymentOperation {
    id: ID!
    kind: String!
    amount: Money!
    status: String!
    failureCode: String
    createdAt: DateTime!
  }

  type Refund {
    id: ID!
    paymentId: ID!
    amount: Money!
    status: String!
    reason: String
    failureCode: String
    createdAt: DateTime!
  }

  type JournalTransaction {
    id: ID!
    kind: String!
    description: String!
    entries: [JournalEntry!]!
    createdAt: DateTime!
  }

  type JournalEntry {
    account: String!
    "Positive is a debit, negative a credit."
    amount: Money!
    debit: SafeInt!
    credit: SafeInt!
  }

  type PageInfo {
    endCursor: String
    hasNextPage: Boolean!
  }

  type PaymentConnection {
    nodes: [Payment!]!
    pageInfo: PageInfo!
  }

  type Product {
    id: ID!
    name: String!
    description: String!
    kind: String!
    resource: String!
    "What buying it grants (course:<slug>, specialization:<slug>, catalog:all); null: nothing."
    grants: String
    prices(country: String, currency: String): [Price!]!
  }

  type Price {
    id: ID!
    productId: ID!
    productName: String!
    unitAmount: Money!
    currency: String!
    billingInterval: BillingInterval
    taxBehavior: TaxBehavior!
    "Set when the price is localized for learners in one country."
    country: String
    nickname: String!
  }

  type TaxRate {
    country: String!
    rateBps: Int!
    name: String!
    "True for the demo's illustrative rates: not tax advice."
    sample: Boolean!
  }

  type TrialBalance {
    currencies: [TrialBalanceCurrency!]!
    balanced: Boolean!
  }

  type TrialBalanceCurrency {
    currency: String!
    accounts: [TrialBalanceAccount!]!
    totalDebits: SafeInt!
    totalCredits: SafeInt!
    balanced: Boolean!
  }

  type TrialBalanceAccount {
    code: String!
    kind: String!
    debit: SafeInt!
    credit: SafeInt!
    balance: SafeInt!
  }

  type CheckoutSessionPayload {
    checkoutSession: CheckoutSession!
  }

  type ConfirmCheckoutSessionPayload {
    checkoutSession: CheckoutSession!
    "Null when the total was zero and nothing was charged."
    payment: Payment
  }

  type PaymentPayload {
    payment: Payment!
  }

  enum OperationResult { succeeded failed pending }

  type PaymentOperationPayload {
    result: OperationResult!
    failureCode: String
    payment: Payment!
  }

  type RefundPaymentPayload {
    result: OperationResult!
    failureCode: String
    refund: Refund!
    payment: Payment!
  }
`;
