/**
 * The grpc role: Obol's internal gRPC API (obol.v1 payments, checkout, entitlements,
 * subscriptions), the standard health service and server reflection, on its own port (GRPC_PORT).
 *
 * Plaintext HTTP/2: this port is for other back-end services on an internal network (a service
 * mesh or load balancer adds TLS). Callers authenticate with the same bearer tokens as the HTTP
 * API; health and reflection need none, as probes and tools such as grpcurl expect.
 */
import { toBinary } from '@bufbuild/protobuf';
import type { DescFile } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { CheckoutService, file_obol_v1_checkout } from '../../gen/obol/v1/checkout_pb.js';
import { EntitlementService, file_obol_v1_entitlements } from '../../gen/obol/v1/entitlements_pb.js';
import { PaymentService, file_obol_v1_payments } from '../../gen/obol/v1/payments_pb.js';
import { SubscriptionService, file_obol_v1_subscriptions } from '../../gen/obol/v1/subscriptions_pb.js';
import { Health, file_grpc_health_v1_health } from '../../gen/grpc/health/v1/health_pb.js';
import type { App } from '../app.js';
import { checkoutHandlers } from './checkout.js';
import { entitlementHandlers } from './entitlements.js';
import { createHealthService } from './health.js';
import { paymentHandlers } from './payments.js';
import { bindService } from './service.js';
import { subscriptionHandlers } from './subscriptions.js';

/** The Obol services this server offers, by full name (what health and reflection report). */
export const OBOL_GRPC_SERVICES = [PaymentService.typeName, EntitlementService.typeName, CheckoutService.typeName, SubscriptionService.typeName] as const;

export interface GrpcServer {
  /** The port actually bound (useful with GRPC_PORT=0). */
  readonly port: number;
  /**
   * Graceful stop: health turns NOT_SERVING, no new calls are accepted, in-flight calls finish;
   * calls still running after `graceMs` are cancelled.
   */
  close(args?: { readonly graceMs?: number }): Promise<void>;
}

/**
 * Reflection is fed the descriptors embedded in the generated code (each file with its imports),
 * shaped like the proto-loader package definition that @grpc/reflection reads (it reads only
 * `fileDescriptorProtos`). So the running server describes exactly the contracts it was built
 * from, and needs no .proto files at run time.
 */
function reflectionPackage(files: readonly DescFile[]): PackageDefinition {
  const seen = new Map<string, Buffer>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    for (const dep of file.dependencies) visit(dep);
    seen.set(file.name, Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
  };
  files.forEach(visit);
  return { 'obol.grpc': { format: 'Protocol Buffer 3 FileDescriptorProto', fileDescriptorProtos: [...seen.values()] } } as unknown as PackageDefinition;
}

export async function startGrpcServer(app: App, args: { readonly host: string; readonly port: number }): Promise<GrpcServer> {
  const server = new Server({
    // The same ceiling as an HTTP request body: internal callers have no reason to send more.
    'grpc.max_receive_message_length': app.config.bodyLimitBytes,
  });
  const payments = bindService(app, PaymentService, paymentHandlers(app));
  const checkout = bindService(app, CheckoutService, checkoutHandlers(app));
  const entitlements = bindService(app, EntitlementService, entitlementHandlers(app));
  const subscriptions = bindService(app, SubscriptionService, subscriptionHandlers(app));
  server.addService(payments.definition, payments.implementation);
  server.addService(checkout.definition, checkout.implementation);
  server.addService(entitlements.definition, entitlements.implementation);
  server.addService(subscriptions.definition, subscriptions.implementation);
  const health = createHealthService(app, OBOL_GRPC_SERVICES);
  server.addService(health.definition, health.implementation);
  new ReflectionService(reflectionPackage([file_obol_v1_payments, file_obol_v1_checkout, file_obol_v1_entitlements, file_obol_v1_subscriptions, file_grpc_health_v1_health]), {
    services: [...OBOL_GRPC_SERVICES, Health.typeName],
  }).addToServer(server);

  const host = args.host.includes(':') ? `[${args.host}]` : args.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${args.port}`, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });

  let closing: Promise<void> | undefined;
  return {
    port,
    close({ graceMs = app.config.shutdownTimeoutMs } = {}) {
      closing ??= new Promise<void>((resolve) => {
        health.shutdown();
        const force = setTimeout(() => {
          app.logFor('grpc').warn({ graceMs }, 'grpc calls still running after the grace period; cancelling them');
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}
