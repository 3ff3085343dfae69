/**
 * The standard grpc.health.v1.Health service (Check and Watch), so load balancers, Kubernetes
 * gRPC probes and grpc_health_probe work unchanged. No package for it was installed, and the
 * protocol is small, so it is implemented here on the generated schema of the standard proto.
 *
 * Status per service name: "" is the server as a whole, plus each Obol service. Check also asks
 * the database (as /readyz does), because a process that cannot reach its store cannot serve;
 * Watch reports changes to the recorded status (NOT_SERVING when shutting down).
 */
import { create } from '@bufbuild/protobuf';
import { Metadata, status, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus as ServingStatus, type HealthCheckRequest, type HealthCheckResponse } from '../../gen/grpc/health/v1/health_pb.js';
import type { App } from '../app.js';
import { methodDefinition } from './service.js';

export { ServingStatus };

export interface HealthService {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
  /** Every known service becomes NOT_SERVING and every Watch stream ends (so shutdown is not held open). */
  shutdown(): void;
}

export function createHealthService(app: App, serviceNames: readonly string[]): HealthService {
  const statuses = new Map<string, ServingStatus>([['', ServingStatus.SERVING], ...serviceNames.map((n) => [n, ServingStatus.SERVING] as const)]);
  const watchers = new Set<{ readonly service: string; readonly call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse> }>();
  const reply = (s: ServingStatus) => create(HealthCheckResponseSchema, { status: s });

  async function databaseReachable(): Promise<boolean> {
    try {
      await app.db.kysely.selectFrom('outbox').select('seq').limit(1).execute();
      return true;
    } catch (err) {
      app.logFor('grpc').warn({ err }, 'grpc health check: database unreachable');
      return false;
    }
  }

  const definition: Record<string, ServiceDefinition[string]> = {};
  for (const method of Health.methods) definition[method.name] = methodDefinition(Health, method);

  const implementation: UntypedServiceImplementation = {
    Check(call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>) {
      const recorded = statuses.get(call.request.service);
      if (recorded === undefined) {
        callback(Object.assign(new Error('unknown service'), { code: status.NOT_FOUND, details: `unknown service ${call.request.service}`, metadata: new Metadata() }));
        return;
      }
      if (recorded !== ServingStatus.SERVING) {
        callback(null, reply(recorded));
        return;
      }
      void databaseReachable().then((ok) => callback(null, reply(ok ? ServingStatus.SERVING : ServingStatus.NOT_SERVING)));
    },
    Watch(call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) {
      const watcher = { service: call.request.service, call };
      watchers.add(watcher);
      call.on('cancelled', () => watchers.delete(watcher));
      call.write(reply(statuses.get(watcher.service) ?? ServingStatus.SERVICE_UNKNOWN));
    },
  };

  return {
    definition: definition as ServiceDefinition,
    implementation,
    shutdown() {
      for (const name of statuses.keys()) statuses.set(name, ServingStatus.NOT_SERVING);
      for (const w of watchers) {
        if (statuses.has(w.service)) w.call.write(reply(ServingStatus.NOT_SERVING));
        w.call.end();
      }
      watchers.clear();
    },
  };
}
