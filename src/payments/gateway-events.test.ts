import { createHash, createHmac } from 'node:crypto';
import braintree from 'braintree';
import { describe, expect, it } from 'vitest';
import { verifyBraintreeNotification, type BraintreeKey } from '../platform/webhooks/verify.js';
import { parseXml, XmlSyntaxError } from './braintree-xml.js';
import { MalformedEvent, mapBraintreeNotification, type GatewayFact } from './gateway-events.js';

const KEY: BraintreeKey = { publicKey: 'pub_events', privateKey: 'priv_events_secret' };
const gateway = new braintree.BraintreeGateway({ environment: braintree.Environment.Sandbox, merchantId: 'merchant_x', publicKey: KEY.publicKey, privateKey: KEY.privateKey });
type KindName = 'DisputeOpened' | 'DisputeWon' | 'DisputeLost' | 'DisputeAccepted' | 'DisputeAutoAccepted' | 'DisputeExpired' | 'DisputeDisputed' | 'DisputeUnderReview' | 'SubscriptionChargedSuccessfully' | 'TransactionSettled' | 'Check';
// The SDK's runtime export; @types/braintree declares the kinds only as a string union.
const Kind = (braintree as unknown as { WebhookNotification: { Kind: Readonly<Record<KindName, braintree.WebhookNotificationKind>> } }).WebhookNotification.Kind;

/** A notification from the SDK's own sample helper, decoded exactly as the intake does (verify, keep the XML). */
async function sample(kind: braintree.WebhookNotificationKind, id: string) {
  const s = await gateway.webhookTesting.sampleNotification(kind, id);
  const verified = verifyBraintreeNotification({ btSignature: s.bt_signature, btPayload: s.bt_payload, keys: [KEY] });
  return { ...s, xml: verified.xml };
}

/** Braintree's signing scheme, for payloads altered from a sample (the intake must accept them first). */
function resign(xml: string) {
  const btPayload = Buffer.from(xml).toString('base64');
  const hmacKey = createHash('sha1').update(KEY.privateKey).digest();
  const btSignature = `${KEY.publicKey}|${createHmac('sha1', hmacKey).update(btPayload).digest('hex')}`;
  return verifyBraintreeNotification({ btSignature, btPayload, keys: [KEY] }).xml;
}

function malformed(xml: string): string {
  try {
    mapBraintreeNotification(xml);
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedEvent);
    return (err as Error).message;
  }
  throw new Error('expected a MalformedEvent');
}

describe('mapBraintreeNotification', () => {
  it.each([
    [Kind.DisputeOpened, 'opened'],
    [Kind.DisputeWon, 'won'],
    [Kind.DisputeLost, 'lost'],
    [Kind.DisputeAccepted, 'lost'],
    [Kind.DisputeAutoAccepted, 'lost'],
    [Kind.DisputeExpired, 'lost'],
  ] as const)('maps an SDK sample %s to a dispute %s on the disputed transaction', async (kind, status) => {
    const s = await sample(kind, 'dp_sample_1');
    const fact = mapBraintreeNotification(s.xml);
    expect(fact).toEqual<GatewayFact>({
      kind: 'dispute',
      connector: 'braintree',
      gatewayDisputeId: 'dp_sample_1',
      paymentReference: 'dp_sample_1',
      status,
      amount: { amount: 25000, currency: 'USD' as never },
      fee: null,
      reason: 'fraud',
    });
    // The SDK's own parser reads the same dispute out of the same payload.
    const parsed = await gateway.webhookNotification.parse(s.bt_signature, s.bt_payload);
    const dispute = (parsed as braintree.DisputeNotification).dispute;
    expect(parsed.kind).toBe(kind);
    expect([dispute.id, dispute.transaction.id, dispute.currencyIsoCode, dispute.amountDisputed]).toEqual(['dp_sample_1', 'dp_sample_1', 'USD', '250.0']);
  });

  it('reads the transaction id from the dispute, not the dispute id, wherever the elements sit', async () => {
    const xml = (await sample(Kind.DisputeOpened, 'dp_x')).xml.replace(
      /<transaction>\s*<id>dp_x<\/id>/,
      '<transaction><id>txn_42</id>',
    );
    // Evidence records carry ids of their own; only direct children of <dispute> count.
    const withEvidence = xml.replace('<dispute>', '<dispute>\n  <evidence type="array"><evidence><id>ev_1</id></evidence></evidence>');
    const fact = mapBraintreeNotification(resign(withEvidence));
    expect(fact).toMatchObject({ kind: 'dispute', gatewayDisputeId: 'dp_x', paymentReference: 'txn_42' });
  });

  it('ignores dispute kinds that book nothing, retrievals, and unrelated notifications', async () => {
    for (const kind of [Kind.DisputeDisputed, Kind.DisputeUnderReview, Kind.SubscriptionChargedSuccessfully, Kind.TransactionSettled, Kind.Check] as const) {
      const fact = mapBraintreeNotification((await sample(kind, 'sub_1')).xml);
      expect(fact.kind, kind).toBe('ignored');
    }
    // Kinds are data, never looked up on an object's prototype.
    const odd = (await sample(Kind.DisputeOpened, 'dp_o')).xml.replace('<kind>dispute_opened</kind>', '<kind>constructor</kind>');
    expect(mapBraintreeNotification(resign(odd))).toEqual({ kind: 'ignored', reason: 'braintree constructor is not acted on' });
    const retrieval = (await sample(Kind.DisputeOpened, 'dp_r')).xml.replace('<kind>chargeback</kind>', '<kind>retrieval</kind>');
    expect(mapBraintreeNotification(resign(retrieval))).toEqual({ kind: 'ignored', reason: 'braintree dispute_opened for a retrieval moves no money' });
    const preArb = (await sample(Kind.DisputeOpened, 'dp_p')).xml.replace('<kind>chargeback</kind>', '<kind>pre_arbitration</kind>');
    expect(mapBraintreeNotification(resign(preArb))).toMatchObject({ kind: 'dispute', status: 'opened' });
  });

  it('converts decimal amounts to minor units exactly, by the currency exponent', async () => {
    const base = (await sample(Kind.DisputeOpened, 'dp_amt')).xml;
    const withAmount = (amount: string, currency: string) =>
      base
        .replace(/<amount>[^<]*<\/amount>\s*<amount-disputed>[^<]*<\/amount-disputed>/, `<amount-disputed>${amount}</amount-disputed>`)
        .replace('<currency-iso-code>USD</currency-iso-code>', `<currency-iso-code>${currency}</currency-iso-code>`);
    const amountOf = (amount: string, currency: string) => {
      const fact = mapBraintreeNotification(resign(withAmount(amount, currency)));
      return fact.kind === 'dispute' ? [fact.amount.amount, fact.amount.currency] : fact;
    };
    expect(amountOf('0.29', 'USD')).toEqual([29, 'USD']);
    expect(amountOf('19.99', 'EUR')).toEqual([1999, 'EUR']);
    expect(amountOf('1234567.8', 'USD')).toEqual([123456780, 'USD']);
    expect(amountOf('500.00', 'JPY')).toEqual([500, 'JPY']);
    expect(amountOf('1.250', 'KWD')).toEqual([1250, 'KWD']);
    expect(amountOf('90071992547409.91', 'USD')).toEqual([9007199254740991, 'USD']);
    // The older `amount` field is read when `amount-disputed` is missing or nil.
    const legacy = base.replace(/<amount-disputed>[^<]*<\/amount-disputed>/, '<amount-disputed nil="true"/>').replace('<amount>250.00</amount>', '<amount>12.34</amount>');
    expect(mapBraintreeNotification(resign(legacy))).toMatchObject({ amount: { amount: 1234, currency: 'USD' } });
  });

  it('refuses a malformed amount or currency as a malformed event', async () => {
    const base = (await sample(Kind.DisputeOpened, 'dp_bad')).xml;
    const withAmount = (amount: string, currency = 'USD') =>
      base
        .replace(/<amount-disputed>[^<]*<\/amount-disputed>/, `<amount-disputed>${amount}</amount-disputed>`)
        .replace('<currency-iso-code>USD</currency-iso-code>', `<currency-iso-code>${currency}</currency-iso-code>`);
    for (const amount of ['25O.00', '250.001', '-250.00', '1e3', '250.', '.5', ' 2 50', '0x10', '99999999999999999.99', 'NaN']) {
      expect(malformed(resign(withAmount(amount))), amount).toMatch(/braintree event is missing a well-formed dispute amount/);
    }
    expect(malformed(resign(withAmount('5.5', 'JPY')))).toMatch(/amount/);
    expect(malformed(resign(withAmount('250.00', 'usd')))).toMatch(/amount and currency/);
    expect(malformed(resign(withAmount('250.00', 'ZZZ')))).toMatch(/amount and currency/);
    // No amount at all (neither field) is malformed too, not zero.
    const none = base.replace(/<amount>[^<]*<\/amount>/, '').replace(/<amount-disputed>[^<]*<\/amount-disputed>/, '');
    expect(malformed(resign(none))).toMatch(/amount/);
  });

  it('refuses dispute notifications missing what Obol needs, or not well-formed', async () => {
    const base = (await sample(Kind.DisputeLost, 'dp_m')).xml;
    expect(malformed(base.replace(/<transaction>[\s\S]*<\/transaction>/, ''))).toMatch(/transaction id/);
    expect(malformed(base.replace(/<id>dp_m<\/id>\s*<transaction>/, '<transaction>'))).toMatch(/dispute id/);
    expect(malformed(base.replace('<kind>chargeback</kind>', ''))).toMatch(/dispute kind/);
    expect(malformed(base.replace('<kind>chargeback</kind>', '<kind>mystery</kind>'))).toMatch(/known dispute kind/);
    expect(malformed(base.replace(/<subject>[\s\S]*<\/subject>/, '<subject/>'))).toMatch(/<subject><dispute>/);
    expect(malformed(base.replace('<id>dp_m</id>', '<id>dp_m</id><id>dp_n</id>'))).toMatch(/more than one <id>/);
    expect(malformed(base.replace('</dispute>', ''))).toMatch(/well-formed notification XML/);
    expect(malformed(`<!DOCTYPE x [<!ENTITY e "x">]>${base}`)).toMatch(/well-formed/);
    expect(malformed(base.replace('fraud', '&bogus;'))).toMatch(/unknown entity/);
    expect(malformed('<other><kind>dispute_opened</kind></other>')).toMatch(/<notification>/);
  });
});

describe('parseXml', () => {
  it('reads elements, attributes, entities, CDATA and self-closing tags', () => {
    const doc = parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<!-- c --><a x="1" y='&lt;2&gt;'><b>t &amp; &#65;&#x42;</b><c nil="true"/><d><![CDATA[<raw>]]></d></a>\n`);
    expect(doc.name).toBe('a');
    expect(doc.attributes).toEqual({ x: '1', y: '<2>' });
    expect(doc.children.map((c) => [c.name, c.text])).toEqual([
      ['b', 't & AB'],
      ['c', ''],
      ['d', '<raw>'],
    ]);
  });

  it('refuses what is not a single well-formed element', () => {
    for (const bad of ['', 'text', '<a>', '<a></b>', '<a></a><b></b>', '<a>x</a>y', '<a b="1" b="2"></a>', '<a>&</a>', '<a>&#0;</a>', '<a><?pi?></a>', '<!DOCTYPE a><a/>', '<a b=1></a>', `${'<a>'.repeat(70)}${'</a>'.repeat(70)}`]) {
      expect(() => parseXml(bad), bad.slice(0, 20)).toThrow(XmlSyntaxError);
    }
  });
});
