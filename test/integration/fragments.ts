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
