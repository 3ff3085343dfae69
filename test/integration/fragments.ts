export const MONEY = 'amount currency decimal';

export const PAYMENT_FIELDS = `
  id status customerId checkoutSessionId captureMethod connector failedAttempts
  amount { ${MONEY} } amountAuthorized { ${MONEY} } amountCaptured { ${MONEY} }
  amountRefunded { ${MONEY} } amountRefundable { ${MONEY} }
  lastError { code reason declineClass }
  nextAction { type challengeId redirectUrl }
  attempts { id seq status declineCode declineReason declineClass amount { ${MONEY} } }
  refunds { id status amount { ${MONEY} } }
`;

export const SESSION_FIELDS = `
  id status customerId country currency captureMethod orderId expiresAt
  subtotal { ${MONEY} } discountTotal { ${MONEY} } taxTotal { ${MONEY} } total { ${MONEY} }
  lines { priceId quantity taxBehavior taxRateBps amountGross { ${MONEY} } discount { ${MONEY} } tax { ${MONEY} } total { ${MONEY} } }
`;

export const CREATE = `mutation Create($input: CreateCheckoutSessionInput!) {
  createCheckoutSession(input: $input) { checkoutSession { ${SESSION_FIELDS} } }
}`;

export const CONFIRM = `mutation Confirm($input: ConfirmCheckoutSessionInput!) {
  confirmCheckoutSession(input: $input) {
    checkoutSession { id status orderId }
    payment { ${PAYMENT_FIELDS} }
  }
}`;

export const COMPLETE_3DS = `mutation Complete($input: ThreeDSecureChallengeInput!) {
  completeThreeDSecureChallenge(input: $input) { payment { ${PAYMENT_FIELDS} } }
}`;

export const FAIL_3DS = `mutation Fail($input: FailThreeDSecureChallengeInput!) {
  failThreeDSecureChallenge(input: $input) { payment { ${PAYMENT_FIELDS} } }
}`;

export const CAPTURE = `mutation Capture($input: CapturePaymentInput!) {
  capturePayment(input: $input) { result failureCode payment { ${PAYMENT_FIELDS} } }
}`;

export const VOID = `mutation Void($input: VoidPaymentInput!) {
  voidPayment(input: $input) { result failureCode payment { ${PAYMENT_FIELDS} } }
}`;

export const REFUND = `mutation Refund($input: RefundPaymentInput!) {
  refundPayment(input: $input) { result failureCode refund { id status amount { ${MONEY} } } payment { ${PAYMENT_FIELDS} } }
}`;

export const PAYMENT = `query Payment($id: ID!) {
  payment(id: $id) {
    ${PAYMENT_FIELDS}
    ledgerTransactions { id kind entries { account debit credit amount { ${MONEY} } } }
  }
}`;

export const TRIAL_BALANCE = `query { trialBalance { balanced currencies { currency totalDebits totalCredits balanced accounts { code kind debit credit balance } } } }`;

// Subscriptions

export const INVOICE_FIELDS = `
  id number subscriptionId customerId status billingReason currency periodStart periodEnd
  subtotal { ${MONEY} } discount { ${MONEY} } credit { ${MONEY} } tax { ${MONEY} } total { ${MONEY} }
  taxCountry taxRateBps paymentId attemptCount finalizedAt paidAt createdAt
  lines { kind description priceId periodStart periodEnd amount { ${MONEY} } }
`;

export const PAYMENT_METHOD_FIELDS = 'id customerId connector status declineCode declineReason createdAt';

export const SUBSCRIPTION_FIELDS = `
  id customerId status productId priceId currency unitAmount { ${MONEY} } billingInterval taxBehavior country
  couponId testClockId trialEnd currentPeriodStart currentPeriodEnd accessUntil cancelAtPeriodEnd canceledAt
  endedAt endReason pendingPriceId creditBalance { ${MONEY} } latestInvoiceId dunningState dunningRetries
  dunningDeadline createdAt updatedAt
`;

/** What every subscription mutation answers: the use case's result. */
export const SUBSCRIPTION_RESULT = `
  subscription { ${SUBSCRIPTION_FIELDS} }
  invoice { ${INVOICE_FIELDS} }
  payment { ${PAYMENT_FIELDS} initiator invoiceId }
  paymentMethod { ${PAYMENT_METHOD_FIELDS} }
`;

export const START_SUBSCRIPTION = `mutation Start($input: StartSubscriptionInput!) {
  startSubscription(input: $input) { ${SUBSCRIPTION_RESULT} }
}`;

export const CANCEL_SUBSCRIPTION = `mutation Cancel($input: CancelSubscriptionInput!) {
  cancelSubscription(input: $input) { ${SUBSCRIPTION_RESULT} }
}`;

export const RESUME_SUBSCRIPTION = `mutation Resume($input: ResumeSubscriptionInput!) {
  resumeSubscription(input: $input) { ${SUBSCRIPTION_RESULT} }
}`;

export const CHANGE_SUBSCRIPTION_PLAN = `mutation ChangePlan($input: ChangeSubscriptionPlanInput!) {
  changeSubscriptionPlan(input: $input) { ${SUBSCRIPTION_RESULT} }
}`;

export const UPDATE_SUBSCRIPTION_PAYMENT_METHOD = `mutation UpdateMethod($input: UpdateSubscriptionPaymentMethodInput!) {
  updateSubscriptionPaymentMethod(input: $input) { ${SUBSCRIPTION_RESULT} savedPaymentMethod { ${PAYMENT_METHOD_FIELDS} } }
}`;

export const PAY_SUBSCRIPTION_INVOICE = `mutation PayInvoice($input: PaySubscriptionInvoiceInput!) {
  paySubscriptionInvoice(input: $input) { ${SUBSCRIPTION_RESULT} }
}`;

/** A subscription as a learner's app shows it: the plan, the latest invoice and its payment, the saved method. */
export const SUBSCRIPTION = `query Subscription($id: ID!) {
  subscription(id: $id) {
    ${SUBSCRIPTION_FIELDS}
    latestInvoice { ${INVOICE_FIELDS} payment { ${PAYMENT_FIELDS} initiator invoiceId } }
    paymentMethod { ${PAYMENT_METHOD_FIELDS} }
  }
}`;

export const SUBSCRIPTION_INVOICES = `query Invoices($id: ID!) {
  subscription(id: $id) { id invoices { ${INVOICE_FIELDS} payment { id status initiator amount { ${MONEY} } } } }
}`;

export const SUBSCRIPTIONS = `query Subscriptions($customerId: ID) {
  subscriptions(customerId: $customerId) { id customerId status priceId cancelAtPeriodEnd }
}`;

export const INVOICE = `query Invoice($id: ID!) {
  invoice(id: $id) { ${INVOICE_FIELDS} subscription { id status } payment { id status invoiceId amount { ${MONEY} } } }
}`;

export const TEST_CLOCK_FIELDS = 'id name frozenTime status advanceTo createdAt';

export const TEST_CLOCK = `query TestClock($id: ID!) { testClock(id: $id) { ${TEST_CLOCK_FIELDS} } }`;

export const CREATE_TEST_CLOCK = `mutation CreateClock($input: CreateTestClockInput!) {
  createTestClock(input: $input) { testClock { ${TEST_CLOCK_FIELDS} } }
}`;

export const ATTACH_TEST_CLOCK = `mutation AttachClock($input: AttachCustomerToTestClockInput!) {
  attachCustomerToTestClock(input: $input) { testClock { ${TEST_CLOCK_FIELDS} } }
}`;

export const ADVANCE_TEST_CLOCK = `mutation AdvanceClock($input: AdvanceTestClockInput!) {
  advanceTestClock(input: $input) { testClock { ${TEST_CLOCK_FIELDS} } }
}`;
