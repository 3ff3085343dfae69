/**
 * The Kafka broker that scripts/services/services.mjs starts is a real, working broker for what
 * Obol's event bus relies on: explicitly created multi-partition topics, idempotent producers with
 * acks=all, and consumer groups reading from the earliest offset with per-key order kept.
 */
import { Admin, Consumer, ProduceAcks, Producer, stringDeserializers, stringSerializers, type Message } from '@platformatic/kafka';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithKafka, uniqueServiceName } from '../support/services.js';

/** Reads `count` messages from an async iterable, or fails after `ms` saying how many came. */
async function take<T>(stream: AsyncIterable<T>, count: number, ms: number): Promise<T[]> {
  const received: T[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`received ${received.length} of ${count} messages within ${ms} ms`)), ms);
  });
  const reading = (async () => {
    for await (const message of stream) {
      received.push(message);
      if (received.length === count) break;
    }
    return received;
  })();
  try {
    return await Promise.race([reading, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describeWithKafka('Kafka test broker', (brokers) => {
  const topic = uniqueServiceName('obol.smoke');
  let admin: Admin;

  beforeAll(async () => {
    admin = new Admin({ clientId: 'obol-smoke-admin', bootstrapBrokers: [...brokers] });
    await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
  });

  afterAll(async () => {
    await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin?.close();
  });

  it('creates a topic with three partitions, each led by the single node', async () => {
    const metadata = await admin.metadata({ topics: [topic] });
    const partitions = metadata.topics.get(topic)?.partitions ?? [];
    expect(partitions).toHaveLength(3);
    for (const partition of partitions) expect(metadata.brokers.has(partition.leader)).toBe(true);
  });

  it('delivers keyed messages from an idempotent acks=all producer to a consumer group from the earliest offset, in order per key', async () => {
    const producer = new Producer({
      clientId: 'obol-smoke-producer',
      bootstrapBrokers: [...brokers],
      serializers: stringSerializers,
      idempotent: true,
      acks: ProduceAcks.ALL,
    });
    const sent = [
      { key: 'payment-1', value: 'created' },
      { key: 'payment-2', value: 'created' },
      { key: 'payment-1', value: 'succeeded' },
    ];
    try {
      const result = await producer.send({ messages: sent.map((m) => ({ topic, ...m })) });
      expect(result.offsets?.length).toBeGreaterThan(0);
    } finally {
      await producer.close();
    }

    const consumer = new Consumer({
      groupId: uniqueServiceName('obol.smoke.group'),
      clientId: 'obol-smoke-consumer',
      bootstrapBrokers: [...brokers],
      deserializers: stringDeserializers,
      maxWaitTime: 500,
    });
    try {
      const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
      let received: Message<string, string, string, string>[];
      try {
        received = await take(stream, sent.length, 20_000);
      } finally {
        await stream.close();
      }

      expect(received.map((m) => `${m.key}=${m.value}`).sort()).toEqual(sent.map((m) => `${m.key}=${m.value}`).sort());
      // Kafka orders only within a partition: one key, one partition, offsets in send order.
      const payment1 = received.filter((m) => m.key === 'payment-1');
      expect(payment1.map((m) => m.value)).toEqual(['created', 'succeeded']);
      expect(new Set(payment1.map((m) => m.partition)).size).toBe(1);
      expect(payment1[0]!.offset < payment1[1]!.offset).toBe(true);
    } finally {
      await consumer.close(true);
    }
  });

  it('refuses to create a topic on first use, even when the client asks for it, because auto-creation is off', async () => {
    // Against a broker with auto.create.topics.enable=true this producer creates the topic and
    // sends (the retries ride out the new topic's leader election), so the refusal is the broker's.
    const producer = new Producer({
      clientId: 'obol-smoke-producer',
      bootstrapBrokers: [...brokers],
      serializers: stringSerializers,
      autocreateTopics: true,
      retries: 3,
      retryDelay: 200,
    });
    try {
      await expect(producer.send({ messages: [{ topic: uniqueServiceName('obol.smoke.missing'), key: 'k', value: 'v' }] })).rejects.toThrow(/Unknown topic/);
    } finally {
      await producer.close();
    }
  });
});
