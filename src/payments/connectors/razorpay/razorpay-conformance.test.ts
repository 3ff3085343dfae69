/**
 * The shared conformance battery on Razorpay, in INR, with the capabilities Razorpay lacks
 * declared rather than weakened: no partial capture, no void of an authorization, no zero-decimal
 * currency. 3-D Secure happens in Razorpay Checkout in the browser, so the battery's challenge
 * cases apply only when the connector can play the cardholder (it cannot).
 */
import { startRazorpaySimulator } from '../../../../test/simulators/razorpay.js';
import { connectorConformanceSuite } from '../conformance.js';
import { createRazorpayConnector } from './index.js';

connectorConformanceSuite({
  name: 'razorpay',
  capabilities: { currency: 'INR', zeroDecimalCurrency: null, partialCapture: false, void: false, threeDSecureChallenge: false },
  setup: async () => {
    const sim = await startRazorpaySimulator();
    return {
      connector: createRazorpayConnector({ keyId: sim.keyId, keySecret: sim.keySecret, baseUrl: sim.baseUrl, timeoutMs: 2_000 }),
      tokens: {
        success: 'rzp_sim:success',
        genericDecline: 'rzp_sim:card_declined',
        insufficientFunds: 'rzp_sim:insufficient_funds',
        processingError: 'rzp_sim:gateway_technical_error',
        threeDSecure: 'rzp_sim:authentication_failed',
        timeout: 'rzp_sim:timeout',
      },
      teardown: () => sim.close(),
    };
  },
});
