/** Authentication: bearer tokens in, a Principal out. The API layers use only what is exported here. */
export {
  ACCESS_ROLES,
  AUTH_FAILURE_REASONS,
  AuthenticationError,
  MAX_SUBJECT_LENGTH,
  UNAUTHENTICATED_MESSAGE,
  hasRole,
  isAccessRole,
  isAuthFailureReason,
  isAuthenticationError,
  principalFromClaims,
  type AccessRole,
  type AuthFailureReason,
  type Principal,
} from './principal.js';
export {
  DEFAULT_DEVELOPMENT_TOKEN_TTL_SECONDS,
  DEFAULT_REMOTE_JWKS_OPTIONS,
  MAX_DEVELOPMENT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_LENGTH,
  TOKEN_ALGORITHMS,
  TOKEN_KEY_SOURCES,
  createTokenVerifier,
  parseBearer,
  signDevelopmentToken,
  type CreateTokenVerifierArgs,
  type RemoteJwksOptions,
  type SignDevelopmentTokenArgs,
  type TokenAlgorithm,
  type TokenKeySource,
  type TokenVerifier,
} from './verifier.js';
export { DEV_SIGNING_ALGORITHM, loadOrCreateDevSigningKey, type DevSigningKey } from './dev-key.js';
