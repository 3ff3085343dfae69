import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ObolError } from '../kernel/index.js';
import { createLogger, scrubCardNumbersFromLine } from './logging.js';
import type { LogLevel } from './config.js';

function capture(level: LogLevel = 'trace', name?: string) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = createLogger({ level, destination, ...(name === undefined ? {} : { name }) });
  return {
    logger,
    raw: () => lines.join(''),
    records: () => lines.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('writes one JSON object per line with level label, ISO time, name and message', () => {
    const { logger, records } = capture('info', 'obol');
    logger.info({ orderId: 'ord_1' }, 'order paid');
    logger.debug('not written below the level');
    const [record, ...rest] = records();
    expect(rest).toEqual([]);
    expect(record).toMatchObject({ level: 'info', name: 'obol', orderId: 'ord_1', msg: 'order paid' });
    expect(new Date(record!.time as string).toISOString()).toBe(record!.time);
  });

  it('writes nothing at level silent', () => {
    const { logger, raw } = capture('silent');
    logger.fatal('nothing');
    expect(raw()).toBe('');
  });

  it('redacts secrets, tokens and authorization headers', () => {
    const { logger, raw, records } = capture();
    logger.info({
      password: 'pw-1',
      apiKey: 'key-2',
      token: 'tok-3',
      paymentMethodToken: 'pm_secret_4',
      gateway: { webhookSecret: 'whsec-5', accessToken: 'at-6' },
      req: { method: 'POST', headers: { authorization: 'Bearer abc-7', cookie: 'sid=8', 'x-api-key': 'xk-9' } },
      res: { headers: { 'set-cookie': 'sid=10' } },
    });
    const text = raw();
    for (const secret of ['pw-1', 'key-2', 'tok-3', 'pm_secret_4', 'whsec-5', 'at-6', 'abc-7', 'sid=8', 'xk-9', 'sid=10']) {
      expect(text).not.toContain(secret);
    }
    expect(records()[0]).toMatchObject({
      password: '[redacted]',
      paymentMethodToken: '[redacted]',
      req: { method: 'POST', headers: { authorization: '[redacted]' } },
    });
  });

  it('redacts personal data: emails, names and addresses, nested too', () => {
    const { logger, raw, records } = capture('info', 'obol');
    logger.info({
      email: 'ada@example.com',
      customer: { name: 'Ada Lovelace', email: 'ada@example.org', address: { line1: '12 St James Sq' } },
      session: { customer: { name: 'Charles Babbage' } },
    });
    const text = raw();
    for (const pii of ['ada@example', 'Ada Lovelace', 'St James', 'Babbage']) expect(text).not.toContain(pii);
    expect(records()[0]).toMatchObject({ name: 'obol', customer: { name: '[redacted]', address: '[redacted]' } });
  });

  it('redacts at any depth and in any spelling of the field name', () => {
    const { logger, raw } = capture();
    logger.info({
      API_KEY: 'k-1',
      headers: { Authorization: 'Bearer t-2', 'X-Api-Key': 'k-3' },
      a: { b: { c: { d: { e: { password: 'pw-4' } } } } },
      list: [{ customer: { email: 'e-5@example.com' } }],
    });
    for (const secret of ['k-1', 't-2', 'k-3', 'pw-4', 'e-5']) expect(raw()).not.toContain(secret);
  });

  it('redacts child bindings too', () => {
    const { logger, raw, records } = capture('info', 'obol');
    logger.child({ customer: { email: 'ada@example.com' } }).child({ token: 'tok-1' }).info('hello');
    expect(raw()).not.toContain('ada@example.com');
    expect(raw()).not.toContain('tok-1');
    expect(records()[0]).toMatchObject({ name: 'obol', customer: { email: '[redacted]' }, token: '[redacted]' });
  });

  it('does not modify the object the caller logged', () => {
    const { logger } = capture();
    const input = { customer: { email: 'ada@example.com' }, items: [{ password: 'x' }] };
    logger.info(input);
    expect(input).toEqual({ customer: { email: 'ada@example.com' }, items: [{ password: 'x' }] });
  });

  it('logs cyclic records without failing', () => {
    const { logger, records } = capture();
    const cyclic: Record<string, unknown> = { email: 'ada@example.com' };
    cyclic.self = cyclic;
    logger.info({ cyclic }, 'cycle');
    expect(records()[0]).toMatchObject({ msg: 'cycle', cyclic: { email: '[redacted]' } });
  });

  it('keeps the logger name and child bindings', () => {
    const { logger, records } = capture('info', 'obol');
    logger.child({ role: 'worker' }).info('started');
    expect(records()[0]).toMatchObject({ name: 'obol', role: 'worker', msg: 'started' });
  });

  it('replaces card numbers in any string of the record, wherever they come from', () => {
    const { logger, raw, records } = capture('info', 'obol');
    logger.child({ note: 'bound 5555 5555 5555 4444' }).info(
      { input: { comment: 'my card is 4242-4242-4242-4242 exp 12/27' }, list: ['378282246310005'] },
      'customer typed 4000056655665556 in the coupon field',
    );
    logger.error(new Error('gateway echoed 6011111111111117'), 'charge failed for %s', '3566 0020 2036 0505');
    logger.error(new ObolError('INTERNAL', 'oops 2223003122003222', { hint: '6200000000000005' }));
    const text = raw();
    for (const pan of ['4242', '5555', '378282246310005', '4000056655665556', '6011111111111117', '3566', '2223003122003222', '6200000000000005']) {
      expect(text).not.toContain(pan);
    }
    const [first, second, third] = records();
    expect(first).toMatchObject({
      note: 'bound [card-redacted]',
      input: { comment: 'my card is [card-redacted] exp 12/27' },
      list: ['[card-redacted]'],
      msg: 'customer typed [card-redacted] in the coupon field',
    });
    expect(second).toMatchObject({ msg: 'charge failed for [card-redacted]', err: { message: 'gateway echoed [card-redacted]' } });
    expect((second!.err as { stack: string }).stack).toContain('gateway echoed [card-redacted]');
    expect(third).toMatchObject({ msg: 'oops [card-redacted]', err: { code: 'INTERNAL', details: { hint: '[card-redacted]' } } });
  });

  it('leaves numbers that are not cards alone', () => {
    const { logger, records } = capture();
    logger.info({ ref: 'ord_4242424242424241', long: '00004242424242424242', amount: 1999 }, 'paid 1999 EUR');
    expect(records()[0]).toMatchObject({ ref: 'ord_4242424242424241', long: '00004242424242424242', amount: 1999, msg: 'paid 1999 EUR' });
  });
});

describe('scrubCardNumbersFromLine', () => {
  it('keeps the line valid JSON, including escaped quotes around a card', () => {
    const line = `${JSON.stringify({ a: 'say "4242424242424242"\n', b: 4242424242424242 })}\n`;
    const scrubbed = scrubCardNumbersFromLine(line);
    expect(JSON.parse(scrubbed)).toEqual({ a: 'say "[card-redacted]"\n', b: 4242424242424242 });
  });

  it('returns lines without card-like digits unchanged', () => {
    const line = '{"level":"info","time":"2025-11-25T02:00:00.000Z","msg":"ok 123"}\n';
    expect(scrubCardNumbersFromLine(line)).toBe(line);
  });
});
