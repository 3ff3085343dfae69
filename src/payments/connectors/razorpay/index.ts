export {
  createRazorpayConnector,
  inMemoryRazorpayJournal,
  sdkHttpClient,
  RAZORPAY_CONNECTOR_NAME,
  RAZORPAY_DEFAULT_BASE_URL,
  RAZORPAY_SDK_VERSION,
  type RazorpayConnector,
  type RazorpayJournal,
  type RazorpayJournalEntry,
} from './connector.js';
export { checkoutToken, classifyReason, RAZORPAY_CURRENCY, RAZORPAY_REASONS, type RazorpayPaymentMethod } from './transformers.js';
