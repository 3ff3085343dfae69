export { createSandboxConnector, sandboxConnectorFor, toDecline, SANDBOX_CONNECTOR_NAME, type SandboxConnector } from './connector.js';
export {
  createSandboxGateway,
  challengeIdFor,
  SandboxTransportError,
  GATEWAY_ERROR_CODES,
  SANDBOX_OPERATIONS,
  SANDBOX_ROW_STATUSES,
  type GatewayErrorCode,
  type SandboxChargeRecord,
  type SandboxGateway,
  type SandboxOperation,
  type SandboxOptions,
  type SandboxRowStatus,
} from './gateway.js';
export {
  SANDBOX_TOKENS,
  SANDBOX_TOKEN_BEHAVIORS,
  SANDBOX_CONFORMANCE_TOKENS,
  canonicalSandboxToken,
  isSandboxToken,
  sandboxTokenSpec,
  type SandboxToken,
  type SandboxTokenBehavior,
  type SandboxTokenSpec,
} from './tokens.js';
