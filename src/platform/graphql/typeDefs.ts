/**
 * The GraphQL contract for apps, the web checkout and the console. Enum values use the domain's
 * own lowercase names (`requires_action`, `succeeded`) so API, events and docs say the same
 * words; where the domain lists them (`as const` arrays), the enum is built from that list, so
 * the two cannot drift apart. Every amount is a `Money` (SafeInt minor units beside its currency).
 */
import { PAYMENT_METHOD_STATUSES } from '../../payments/index.js';
import {
  BILLING_REASONS,
  DUNNING_STATES,
  END_REASONS,
  INVOICE_LINE_KINDS,
  INVOICE_STATUSES,
  REFUND_POLICIES,
  SUBSCRIPTION_STATUSES,
} from '../../subscriptions/index.js';
import { TEST_CLOCK_STATUSES } from '../jobs/index.js';

const values = (list: readonly string[]): string => list.join(' ');

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
    "A subscription to a plan. A learner sees only their own: anyone else's is NOT_FOUND, exactly as an id that does not exist."
    subscription(id: ID!): CustomerSubscription
    "A customer's subscriptions, newest first (a learner: their own; customerId defaults to them)."
    subscriptions(customerId: ID): [CustomerSubscription!]!
    "A subscription's invoice (a learner: only their own)."
    invoice(id: ID!): Invoice
    "Admins, where test clocks are enabled: a test clock and the time it reads."
    testClock(id: ID!): TestClock
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
    "Subscribes a customer to a plan (a recurring price). The first invoice is paid now, customer present (3-D Secure may challenge: see payment.nextAction), or with a trial nothing is charged and the payment method is only saved for the renewals."
    startSubscription(input: StartSubscriptionInput!): SubscriptionPayload!
    "Cancels at the period end (access runs to it) or now, optionally refunding the unused part of the period."
    cancelSubscription(input: CancelSubscriptionInput!): SubscriptionPayload!
    "Withdraws a cancellation scheduled for the period end, before that end comes."
    resumeSubscription(input: ResumeSubscriptionInput!): SubscriptionPayload!
    "Moves to another plan of the same product: an upgrade now (the unused time is credited, the new plan charged at once), a downgrade at the period end."
    changeSubscriptionPlan(input: ChangeSubscriptionPlanInput!): SubscriptionPayload!
    "Saves a new payment method for the renewals; an invoice open in dunning is retried with it at once. A card the issuer will not save is an outcome (savedPaymentMethod.status failed), not an error."
    updateSubscriptionPaymentMethod(input: UpdateSubscriptionPaymentMethodInput!): UpdateSubscriptionPaymentMethodPayload!
    "The learner pays the subscription's open invoice, present: the way back when the issuer refused a renewal for missing authentication (3-D Secure may challenge: see payment.nextAction, then completeThreeDSecureChallenge)."
    paySubscriptionInvoice(input: PaySubscriptionInvoiceInput!): SubscriptionPayload!
    "Admins, where test clocks are enabled: a clock frozen at frozenTime, for simulating billing."
    createTestClock(input: CreateTestClockInput!): TestClockPayload!
    "Puts a customer without subscriptions on a test clock: their subscriptions then run on its time."
    attachCustomerToTestClock(input: AttachCustomerToTestClockInput!): TestClockPayload!
    "Moves a test clock forward to \`to\` (at most five years), running every renewal, retry and recognition that falls due on the way."
    advanceTestClock(input: AdvanceTestClockInput!): TestClockPayload!
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
    invoice: Invoice
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
    "Recurring prices: the free trial a subscription starts with unless told otherwise (null: none)."
    trialPeriodDays: Int
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

  # Subscriptions

  enum SubscriptionStatus { ${values(SUBSCRIPTION_STATUSES)} }
  enum InvoiceStatus { ${values(INVOICE_STATUSES)} }
  "Where dunning stands: retrying on a schedule, waiting for a new payment method (a hard decline), or waiting for the learner to authenticate (paySubscriptionInvoice)."
  enum DunningState { ${values(DUNNING_STATES)} }
  enum SubscriptionEndReason { ${values(END_REASONS)} }
  enum InvoiceBillingReason { ${values(BILLING_REASONS)} }
  enum InvoiceLineKind { ${values(INVOICE_LINE_KINDS)} }
  "none: nothing back; prorated: the unused part of the period paid for (only when canceling now)."
  enum SubscriptionRefundPolicy { ${values(REFUND_POLICIES)} }
  enum PaymentMethodStatus { ${values(PAYMENT_METHOD_STATUSES)} }
  enum TestClockStatus { ${values(TEST_CLOCK_STATUSES)} }

  # Not named Subscription: GraphQL tooling (graphql-tools among them) takes a type of that name
  # for the root of subscription operations.
  "A customer's subscription to a plan."
  type CustomerSubscription {
    id: ID!
    customerId: ID!
    status: SubscriptionStatus!
    productId: ID!
    "The plan: a recurring price."
    priceId: ID!
    currency: String!
    "The plan's price per interval, before discount and (added) tax."
    unitAmount: Money!
    billingInterval: BillingInterval!
    taxBehavior: TaxBehavior!
    "ISO 3166-1 alpha-2: the country taxed."
    country: String!
    couponId: ID
    "Set when the customer runs on a test clock."
    testClockId: ID
    trialEnd: DateTime
    currentPeriodStart: DateTime!
    currentPeriodEnd: DateTime!
    "Access runs until here (the paid period, or the grace of dunning); null before any access."
    accessUntil: DateTime
    "Ends at currentPeriodEnd unless resumed before."
    cancelAtPeriodEnd: Boolean!
    canceledAt: DateTime
    endedAt: DateTime
    endReason: SubscriptionEndReason
    "A downgrade that takes effect at the period end."
    pendingPriceId: ID
    "Proration credit not yet used, taken off the next invoices."
    creditBalance: Money!
    latestInvoiceId: ID
    latestInvoice: Invoice
    "Every invoice, oldest first."
    invoices: [Invoice!]!
    "The saved payment method renewals charge: the gateway's reference stays inside Obol, card data never reaches it."
    paymentMethod: PaymentMethod
    dunningState: DunningState
    dunningRetries: Int!
    "When dunning gives up (and access ends) unless paid before."
    dunningDeadline: DateTime
    createdAt: DateTime!
    updatedAt: DateTime!
  }

  type Invoice {
    id: ID!
    "Gap-free, e.g. OBOL-000042; null while a draft."
    number: String
    subscriptionId: ID!
    subscription: CustomerSubscription!
    customerId: ID!
    status: InvoiceStatus!
    billingReason: InvoiceBillingReason!
    currency: String!
    periodStart: DateTime!
    periodEnd: DateTime!
    subtotal: Money!
    discount: Money!
    "Proration credit from a previous plan."
    credit: Money!
    tax: Money!
    total: Money!
    taxCountry: String!
    "Tax rate in basis points of a percent: 2000 = 20 %."
    taxRateBps: Int!
    paymentId: ID
    "The latest payment of this invoice (a renewal's is merchant-initiated; the learner's own may need 3-D Secure: see nextAction)."
    payment: Payment
    attemptCount: Int!
    "The plan, then any discount and proration credit (negative), then added tax."
    lines: [InvoiceLine!]!
    finalizedAt: DateTime
    paidAt: DateTime
    createdAt: DateTime!
  }

  type InvoiceLine {
    kind: InvoiceLineKind!
    description: String!
    priceId: ID
    periodStart: DateTime!
    periodEnd: DateTime!
    "Negative for a discount or a credit."
    amount: Money!
  }

  "A saved payment method: what Obol knows of it is the gateway and the outcome of saving it, never card data."
  type PaymentMethod {
    id: ID!
    customerId: ID!
    connector: String!
    status: PaymentMethodStatus!
    "Why the issuer refused to save it (status failed)."
    declineCode: String
    declineReason: String
    createdAt: DateTime!
  }

  type TestClock {
    id: ID!
    name: String!
    "The time every subscription on this clock reads."
    frozenTime: DateTime!
    status: TestClockStatus!
    "While advancing: where to."
    advanceTo: DateTime
    createdAt: DateTime!
  }

  input StartSubscriptionInput {
    "The customer subscribing. A learner may omit it (it is then themselves); staff and services must give it."
    customerId: ID
    "A recurring price: the plan."
    priceId: ID!
    "ISO 3166-1 alpha-2 country of the learner: decides tax and localized prices."
    country: String!
    "The gateway's token for the payment method, saved for the renewals. Never a card number."
    paymentMethodToken: String!
    "The card issuer's country (ISO 3166-1 alpha-2) as the gateway's client SDK reports it. Decides PSD2 strong customer authentication only."
    cardCountry: String
    couponCode: String
    "Days of free trial, 0 to 365; omitted: the plan's default (Price.trialPeriodDays); 0: none."
    trialDays: Int
    idempotencyKey: String!
  }

  input CancelSubscriptionInput {
    subscriptionId: ID!
    "true: access runs to the period's end, then it ends; false: it ends now."
    atPeriodEnd: Boolean = true
    "Only when canceling now: prorated refunds the unused part of the period."
    refund: SubscriptionRefundPolicy = none
    idempotencyKey: String!
  }

  input ResumeSubscriptionInput {
    subscriptionId: ID!
    idempotencyKey: String!
  }

  input ChangeSubscriptionPlanInput {
    subscriptionId: ID!
    "Another recurring price of the same product, currency and tax treatment."
    priceId: ID!
    idempotencyKey: String!
  }

  input UpdateSubscriptionPaymentMethodInput {
    subscriptionId: ID!
    "The gateway's token for the new payment method. Never a card number."
    paymentMethodToken: String!
    idempotencyKey: String!
  }

  input PaySubscriptionInvoiceInput {
    subscriptionId: ID!
    "A fresh token from the learner, who is present. Never a card number. Saved for the renewals that follow."
    paymentMethodToken: String!
    "The card issuer's country (ISO 3166-1 alpha-2), as for startSubscription."
    cardCountry: String
    idempotencyKey: String!
  }

  input CreateTestClockInput {
    name: String!
    frozenTime: DateTime!
    idempotencyKey: String!
  }

  input AttachCustomerToTestClockInput {
    clockId: ID!
    customerId: ID!
    idempotencyKey: String!
  }

  input AdvanceTestClockInput {
    clockId: ID!
    to: DateTime!
    idempotencyKey: String!
  }

  type SubscriptionPayload {
    subscription: CustomerSubscription!
    "The latest invoice (null during a trial that has not invoiced yet)."
    invoice: Invoice
    "The latest invoice's payment: when its status is requires_action, send the learner to nextAction.redirectUrl."
    payment: Payment
    paymentMethod: PaymentMethod
  }

  type UpdateSubscriptionPaymentMethodPayload {
    subscription: CustomerSubscription!
    invoice: Invoice
    payment: Payment
    "The subscription's payment method now (the old one, when the new one was refused)."
    paymentMethod: PaymentMethod
    "The method this request saved: active (now the subscription's) or failed with the issuer's decline."
    savedPaymentMethod: PaymentMethod!
  }

  type TestClockPayload {
    testClock: TestClock!
  }
`;
