export {
  createRazorpayConnector,
  inMemoryRazorpayJournal,
  sdkHttpClient,
  RAZORPAY_AFA_EXEMPT_LIMIT_PAISE,
  RAZORPAY_CONNECTOR_NAME,
  RAZORPAY_DEFAULT_BASE_URL,
  RAZORPAY_SDK_VERSION,
  type RazorpayConnector,
  type RazorpayJournal,
  type RazorpayJournalEntry,
} from './connector.js';
export { sqlRazorpayJournal } from './journal.js';
export {
  checkoutToken,
  classifyReason,
  parseSavedPaymentMethod,
  RAZORPAY_CURRENCY,
  RAZORPAY_REASONS,
  type RazorpayCustomerDetails,
  type RazorpayPaymentMethod,
  type RazorpaySavedMethod,
} from './transformers.js';
