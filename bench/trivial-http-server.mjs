// @ts-check
/**
 * The load generator's yardstick: node:http answering every request with a small constant JSON
 * body at once. Whatever rate the generator reaches here is what it can drive at most; Obol's
 * figures mean something only far below it. Prints its port as JSON on stdout.
 */
import http from 'node:http';

const body = JSON.stringify({ data: { ok: true } });
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body));
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
