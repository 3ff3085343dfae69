// @ts-check
/**
 * The bare server of the entitlement comparison: @grpc/grpc-js serving the same
 * obol.v1.EntitlementService contract on the same kind of port (insecure HTTP/2 on 127.0.0.1),
 * answering every CheckEntitlement with a constant. It prints its port as JSON on stdout.
 */
import * as grpc from '@grpc/grpc-js';
import { entitlementService } from './lib/grpc.mjs';

const Service = entitlementService();
const server = new grpc.Server();
const decision = { decision: { resource: 'course:machine-learning', allowed: true, via: 'course:machine-learning' } };
server.addService(Service.service, {
  CheckEntitlement: (_call, callback) => callback(null, decision),
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
