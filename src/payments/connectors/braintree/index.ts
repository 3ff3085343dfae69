export { BRAINTREE_CONNECTOR_NAME, VAULTED_TOKEN_PREFIX, createBraintreeConnector, type BraintreeConnectorArgs } from './connector.js';
export {
  CAPTURE_MARK,
  GATEWAY_REJECTIONS,
  PROCESSOR_RESPONSES,
  classifyProcessorResponse,
  fromBraintreeAmount,
  toBraintreeAmount,
  transactionDecline,
} from './transformers.js';
