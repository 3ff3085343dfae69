import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DECLINE_CLASSES, NEXT_ACTION_TYPES } from '../../payments/connectors/port.js';
import { DISPUTE_STATUSES } from '../../payments/disputes/domain.js';
import { INVOICE_STATUSES, SUBSCRIPTION_STATUSES } from '../../subscriptions/domain/index.js';
import { BILLING_REASONS, END_REASONS } from '../../subscriptions/records.js';
import { EVENT_TOPICS, EVENT_TYPES, type EventType } from './outbox.js';
import { findSchemasDir, loadEventSchemaFiles, schemaCatalogProblems, validateEvent, validateEventAs, type EventSchemaFile, type EventValidation } from './schemas.js';

const files = loadEventSchemaFiles();
const fileOf = (type: EventType): EventSchemaFile => {
  const file = files.find((f) => f.type === type);
  if (!file) throw new Error(`no schema file for ${type}`);
  return file;
};

/** The example a schema carries, as a fresh object the test may change. */
function exampleOf(type: EventType): Record<string, any> {
  const examples = fileOf(type).schema['examples'] as unknown[] | undefined;
  if (!examples?.[0]) throw new Error(`schema of ${type} has no example`);
  return structuredClone(examples[0]) as Record<string, any>;
}

function errorsOf(result: EventValidation): readonly string[] {
  expect(result.ok).toBe(false);
  return result.ok ? [] : result.errors;
}

describe('the schema catalog', () => {
  it('has exactly one schema per event type in EVENT_TYPES, under a topic in EVENT_TOPICS, with a matching $id, type, source and a description', () => {
    expect(schemaCatalogProblems(files)).toEqual([]);
    expect(files.map((f) => f.type).sort()).toEqual([...EVENT_TYPES].sort());
  });

  it('reports a type without a schema and a schema for a type that does not exist', () => {
    const known = { types: [...EVENT_TYPES, 'entitlement.granted'], topics: EVENT_TOPICS };
    const stray: EventSchemaFile = { ...fileOf('payment.succeeded'), type: 'payment.exploded' };
    const problems = schemaCatalogProblems([...files, stray], known);
    expect(problems).toContain('event type "entitlement.granted" has no schema: add schemas/<topic>/entitlement.granted.schema.json');
    expect(problems).toContain('obol.payments.v1/payment.exploded.schema.json names event type "payment.exploded", which Obol does not emit (not in EVENT_TYPES)');
    // Its $id and pinned type still say payment.succeeded: the file name and its content disagree.
    expect(problems.some((p) => p.includes('payment.exploded.schema.json pins type "payment.succeeded"'))).toBe(true);
  });

  it('reports a schema filed under the wrong topic', () => {
    const misfiled: EventSchemaFile = { ...fileOf('refund.failed'), topic: 'obol.checkout.v1' };
    const problems = schemaCatalogProblems([...files.filter((f) => f.type !== 'refund.failed'), misfiled]);
    expect(problems).toEqual([
      'obol.checkout.v1/refund.failed.schema.json has $id "https://obol.dev/schemas/obol.payments.v1/refund.failed.json", expected "https://obol.dev/schemas/obol.checkout.v1/refund.failed.json"',
      'obol.checkout.v1/refund.failed.schema.json pins source "/obol/payments", expected "/obol/checkout"',
    ]);
  });

  it('keeps enumerations in step with the code that produces them', () => {
    const dataProperty = (type: EventType, name: string) => (fileOf(type).schema['properties'] as any).data.properties[name];
    expect(dataProperty('payment.failed', 'declineClass').enum).toEqual([...DECLINE_CLASSES]);
    expect(dataProperty('payment.requires_action', 'actionType').enum).toEqual([...NEXT_ACTION_TYPES]);
    expect(dataProperty('dispute.opened', 'status').enum).toEqual([...DISPUTE_STATUSES]);

    const subscriptionTypes = EVENT_TYPES.filter((t) => t.startsWith('subscription.'));
    const invoiceTypes = EVENT_TYPES.filter((t) => t.startsWith('invoice.'));
    for (const type of invoiceTypes) expect(dataProperty(type, 'billingReason').enum, type).toEqual([...BILLING_REASONS]);
    expect(dataProperty('invoice.payment_failed', 'declineClass').enum).toEqual([...DECLINE_CLASSES]);
    expect(dataProperty('subscription.canceled', 'reason').enum).toEqual([...END_REASONS]);
    // A status is pinned per event type (subscription.renewed is always active): each schema
    // announces the statuses its event can carry, all of them the code's, in the code's order;
    // together they announce every status there is (an invoice is never announced as a draft:
    // it is finalized in the transaction that creates it).
    const statusesOf = (type: EventType): readonly string[] => {
      const status = dataProperty(type, 'status');
      return status.enum ?? [status.const];
    };
    for (const type of subscriptionTypes) expect(statusesOf(type), type).toEqual(SUBSCRIPTION_STATUSES.filter((s) => statusesOf(type).includes(s)));
    for (const type of invoiceTypes) expect(statusesOf(type), type).toEqual(INVOICE_STATUSES.filter((s) => statusesOf(type).includes(s)));
    expect(new Set(subscriptionTypes.flatMap(statusesOf))).toEqual(new Set(SUBSCRIPTION_STATUSES));
    expect(new Set(invoiceTypes.flatMap(statusesOf))).toEqual(new Set(INVOICE_STATUSES.filter((s) => s !== 'draft')));
  });
});

describe('validateEvent', () => {
  it.each([...EVENT_TYPES])('accepts the example in the schema of %s', (type) => {
    expect(validateEvent(exampleOf(type))).toEqual({ ok: true });
  });

  it('refuses an event missing a required data field, naming it', () => {
    const event = exampleOf('payment.succeeded');
    delete event.data.currency;
    expect(errorsOf(validateEvent(event))).toEqual(['/data is missing required property "currency"']);
  });

  it('refuses an event missing an envelope attribute', () => {
    const event = exampleOf('checkout.completed');
    delete event.partitionkey;
    expect(errorsOf(validateEvent(event))).toEqual(['(event) is missing required property "partitionkey"']);
  });

  it('refuses an amount that is not a whole number of minor units', () => {
    const event = exampleOf('refund.succeeded');
    event.data.amount = 10.5;
    expect(errorsOf(validateEvent(event))).toEqual(['/data/amount must be integer']);
  });

  it('refuses an amount given as a decimal string', () => {
    const event = exampleOf('checkout.session_created');
    event.data.total = '53.41';
    expect(errorsOf(validateEvent(event))).toEqual(['/data/total must be integer']);
  });

  it('refuses a data field the schema does not announce', () => {
    const event = exampleOf('checkout.completed');
    event.data.couponCode = 'WELCOME10';
    expect(errorsOf(validateEvent(event))).toEqual(['/data has property "couponCode", which the schema does not announce']);
  });

  it('refuses an unannounced field inside an item', () => {
    const event = exampleOf('order.access_revoked');
    event.data.items[0].unitAmount = 4900;
    expect(errorsOf(validateEvent(event))).toEqual(['/data/items/0 has property "unitAmount", which the schema does not announce']);
  });

  it('refuses an event checked as another type: the type const does not match', () => {
    const errors = errorsOf(validateEventAs('refund.succeeded', exampleOf('payment.succeeded')));
    expect(errors).toContain('/type must be "refund.succeeded"');
  });

  it('refuses a type Obol does not emit', () => {
    const event = { ...exampleOf('payment.succeeded'), type: 'payment.exploded' };
    expect(errorsOf(validateEvent(event))).toEqual(['/type "payment.exploded" is not an event type Obol emits']);
  });

  it('refuses something that is not an event at all', () => {
    expect(errorsOf(validateEvent(null))).toEqual(['(event) must be a JSON object']);
    expect(errorsOf(validateEvent({ data: {} }))).toEqual(['(event) is missing required property "type" (a string)']);
  });

  it('refuses a lowercase currency, an id with the wrong prefix and a time that is not RFC 3339', () => {
    const event = exampleOf('payment.authorized');
    event.data.currency = 'usd';
    event.data.paymentId = event.data.checkoutSessionId;
    event.time = '25/11/2026 10:15';
    const errors = errorsOf(validateEvent(event));
    expect(errors).toContain('/data/currency must match pattern "^[A-Z]{3}$"');
    expect(errors).toContain('/data/paymentId must match pattern "^pay_[0-9A-HJKMNP-TV-Z]{26}$"');
    expect(errors).toContain('/time must match format "date-time"');
  });

  it('refuses a value outside an enumeration, listing the allowed ones', () => {
    const event = exampleOf('order.access_revoked');
    event.data.reason = 'chargeback';
    expect(errorsOf(validateEvent(event))).toEqual(['/data/reason must be one of "refunded", "dispute_lost"']);
  });

  it('ties a free checkout.completed to a zero total, and a paid one to a payment', () => {
    const free = exampleOf('checkout.completed');
    free.data.paymentId = null;
    expect(errorsOf(validateEvent(free))).toEqual(['/data/total must be 0']);
    free.data.total = 0;
    expect(validateEvent(free)).toEqual({ ok: true });
  });

  it('requires the connector on a voided payment.canceled but not on one canceled by an expired checkout', () => {
    const voided = exampleOf('payment.canceled');
    delete voided.data.connector;
    expect(errorsOf(validateEvent(voided))).toEqual(['/data is missing required property "connector"']);
    expect(validateEvent({ ...voided, data: { ...voided.data, reason: 'checkout_expired' } })).toEqual({ ok: true });
  });

  it('ties a trial activation to its reason and a paid activation to its invoice', () => {
    const trial = exampleOf('subscription.activated');
    trial.data.invoiceId = 'in_01JD2Z8X0Q5K7W3M9T4R6Y1C0B';
    expect(errorsOf(validateEvent(trial))).toEqual(['/data/invoiceId must be null']);
    const paid = { ...trial, data: { ...trial.data, status: 'active' } };
    expect(errorsOf(validateEvent(paid))).toEqual(['/data/reason must be null']);
    paid.data.reason = null;
    expect(validateEvent(paid)).toEqual({ ok: true });
  });

  it("names an upgrade's invoice in subscription.plan_changed, and no invoice for a scheduled downgrade", () => {
    const upgrade = exampleOf('subscription.plan_changed');
    upgrade.data.invoiceId = null;
    expect(errorsOf(validateEvent(upgrade))).toEqual(['/data/reason must match pattern "^downgrade "']);
    upgrade.data.reason = 'downgrade to price_plus_monthly_usd at the period end';
    expect(validateEvent(upgrade)).toEqual({ ok: true });
    upgrade.data.reason = 'moved to price_plus_monthly_usd';
    expect(errorsOf(validateEvent(upgrade))).toContain('/data/reason must match pattern "^downgrade "');
  });

  it('refuses a subscription event that contradicts its type: a renewal that is not active, a past_due without its invoice', () => {
    const renewed = exampleOf('subscription.renewed');
    renewed.data.status = 'past_due';
    expect(errorsOf(validateEvent(renewed))).toEqual(['/data/status must be "active"']);
    const pastDue = exampleOf('subscription.past_due');
    pastDue.data.invoiceId = null;
    expect(errorsOf(validateEvent(pastDue))).toEqual(['/data/invoiceId must be string']);
  });

  it('gives an expired signup no access window, and any other cancellation one', () => {
    const expired = exampleOf('subscription.canceled');
    expired.data.status = 'incomplete_expired';
    expect(errorsOf(validateEvent(expired))).toEqual(['/data/reason must be "incomplete_expired"', '/data/accessUntil must be null']);
    expired.data.reason = 'incomplete_expired';
    expired.data.accessUntil = null;
    expect(validateEvent(expired)).toEqual({ ok: true });
  });

  it('ties an invoice paid without a payment to a zero total', () => {
    const free = exampleOf('invoice.paid');
    free.data.paymentId = null;
    expect(errorsOf(validateEvent(free))).toEqual(['/data/total must be 0']);
    free.data.total = 0;
    expect(validateEvent(free)).toEqual({ ok: true });
  });

  it('keeps a dispute fee and its currency together', () => {
    const event = exampleOf('dispute.won');
    event.data.fee = null;
    expect(errorsOf(validateEvent(event))).toEqual(['/data/feeCurrency must be null']);
    event.data.feeCurrency = null;
    expect(validateEvent(event)).toEqual({ ok: true });
  });
});

describe('findSchemasDir', () => {
  const root = mkdtempSync(join(tmpdir(), 'obol-schemas-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('finds schemas/ beside package.json from a built module deep in dist/', () => {
    mkdirSync(join(root, 'pkg', 'schemas'), { recursive: true });
    mkdirSync(join(root, 'pkg', 'dist', 'platform', 'events'), { recursive: true });
    writeFileSync(join(root, 'pkg', 'package.json'), '{}');
    const url = pathToFileURL(join(root, 'pkg', 'dist', 'platform', 'events', 'schemas.js'));
    expect(findSchemasDir(url)).toBe(join(root, 'pkg', 'schemas'));
    expect(findSchemasDir(url.href)).toBe(join(root, 'pkg', 'schemas'));
  });

  it('says the folder must ship with the package when it is missing', () => {
    mkdirSync(join(root, 'bare', 'dist'), { recursive: true });
    writeFileSync(join(root, 'bare', 'package.json'), '{}');
    expect(() => findSchemasDir(join(root, 'bare', 'dist', 'schemas.js'))).toThrow(/has no schemas\/ folder: it must ship with the package/);
  });

  it('finds this package’s schemas from the source tree', () => {
    expect(findSchemasDir()).toMatch(/[\\/]schemas$/);
    expect(loadEventSchemaFiles().length).toBe(EVENT_TYPES.length);
  });
});
