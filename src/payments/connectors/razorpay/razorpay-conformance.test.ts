/**
 * The shared conformance battery on Razorpay, in INR, with the capabilities Razorpay lacks
 * declared rather than weakened: no partial capture, no void of an authorization, no zero-decimal
 * currency. 3-D Secure happens in Razorpay Checkout in the browser, so the battery's challenge
 * cases apply only when the connector can play the cardholder (it cannot).
 *
 * Saved payment methods: `rzp_sim:<scenario>` stands for "Checkout completed" here too, so
 * `savePaymentMethod(rzp_sim:success)` is a ₹1 authorization transaction (customer + card mandate)
 * that the simulator pays at once, leaving a recurring token; `rzp_sim:card_declined` is one whose
 * payment the bank declines, so nothing is saved.
 */
import { startRazorpaySimulator } from '../../../../test/simulators/razorpay.js';
import { connectorConformanceSuite } from '../conformance.js';
import { createRazorpayConnector, RAZORPAY_AFA_EXEMPT_LIMIT_PAISE } from './index.js';

connectorConformanceSuite({
  name: 'razorpay',
  capabilities: { currency: 'INR', zeroDecimalCurrency: null, partialCapture: false, void: false, threeDSecureChallenge: false },
  setup: async () => {
    const sim = await startRazorpaySimulator();
    return {
      connector: createRazorpayConnector({
        keyId: sim.keyId,
        keySecret: sim.keySecret,
        baseUrl: sim.baseUrl,
        timeoutMs: 2_000,
        customerDetails: async (customerId) => ({ name: 'Obol Conformance', email: `${customerId}@example.com`, contact: '+919000090000' }),
        // A mandate above RBI's AFA-exempt limit, so a debit can exceed that limit without
        // exceeding the mandate (a debit above the mandate is refused outright, as a hard decline).
        cardMandateMaxAmountPaise: 5_000_000,
      }),
      tokens: {
        success: 'rzp_sim:success',
        genericDecline: 'rzp_sim:card_declined',
        insufficientFunds: 'rzp_sim:insufficient_funds',
        processingError: 'rzp_sim:gateway_technical_error',
        threeDSecure: 'rzp_sim:authentication_failed',
        timeout: 'rzp_sim:timeout',
      },
      // Razorpay documents that recurring debits above ₹15,000 need the customer's additional
      // factor of authentication (from the pre-debit notification); with nobody to give it, such a
      // debit fails `authentication_failed`. ₹15,001 of a healthy saved card plays that part.
      offSessionAuthenticationRequired: { token: 'rzp_sim:success', amount: RAZORPAY_AFA_EXEMPT_LIMIT_PAISE + 100 },
      teardown: () => sim.close(),
    };
  },
});
