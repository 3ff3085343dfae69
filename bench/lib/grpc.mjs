// @ts-check
/**
 * The gRPC side: a plain @grpc/grpc-js client built from proto/ at run time (as any other
 * service would call Obol), and the bare server it is compared with.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ROOT } from './obol.mjs';

export const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** obol.v1.EntitlementService, loaded from the contract. */
export function entitlementService() {
  const definition = protoLoader.loadSync('obol/v1/entitlements.proto', { ...LOADER_OPTIONS, includeDirs: [join(ROOT, 'proto')] });
  return /** @type {any} */ (grpc.loadPackageDefinition(definition)).obol.v1.EntitlementService;
}

/**
 * A client of one channel, as a service calling Obol keeps one: every concurrent call is
 * multiplexed over it (HTTP/2), which is how grpc-js is meant to be used.
 * @param {number} port
 * @param {string} token
 */
export function entitlementClient(port, token) {
  const Service = entitlementService();
  const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return {
    /**
     * @param {string} customerId
     * @param {string} resource
     * @returns {Promise<{ decision: { allowed: boolean } }>}
     */
    check(customerId, resource) {
      return new Promise((resolve, reject) => {
        client.CheckEntitlement({ customer_id: customerId, resource }, metadata, { deadline: Date.now() + 10_000 }, (err, reply) => (err ? reject(err) : resolve(reply)));
      });
    },
    close: () => client.close(),
  };
}
