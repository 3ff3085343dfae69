/**
 * The operations endpoints: /healthz (alive), /readyz (may take work) and /metrics (Prometheus).
 * The api role serves them on its HTTP port; a process without the api role (`--roles worker`,
 * `--roles grpc`) serves them on a small listener of its own at OPS_PORT, so every role is
 * probed and scraped the same way.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { App } from '../app.js';

export function registerOpsRoutes(server: FastifyInstance, app: Pick<App, 'metrics' | 'readiness'>): void {
  server.get('/healthz', async () => ({ status: 'ok' }));

  server.get('/readyz', async (_req, reply) => {
    const { ready, body } = await app.readiness.evaluate();
    return reply.status(ready ? 200 : 503).send(body);
  });

  server.get('/metrics', async (_req, reply) => {
    const text = await app.metrics.render();
    return reply.header('content-type', app.metrics.contentType).header('cache-control', 'no-store').send(text);
  });
}

export interface OpsServer {
  /** The port actually bound (useful with OPS_PORT=0). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startOpsServer(app: App, args: { readonly host: string; readonly port: number }): Promise<OpsServer> {
  const server = Fastify({ logger: false, return503OnClosing: false, requestTimeout: 10_000, keepAliveTimeout: 5_000 });
  registerOpsRoutes(server, app);
  server.setErrorHandler((err: unknown, _req, reply) => {
    app.logFor('ops').error({ err }, 'ops endpoint failed');
    return reply.status(500).send({ status: 'error' });
  });
  await server.listen({ host: args.host, port: args.port });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : args.port;
  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= server.close();
      return closing;
    },
  };
}
