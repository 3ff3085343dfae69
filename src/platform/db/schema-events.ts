/** Row types of the event consumers' tables (merged into Database in schema.ts). */

export interface ConsumerInboxTable {
  consumer_group: string;
  event_id: string;
  event_type: string;
  processed_at: number;
}

export interface EventConsumerTables {
  consumer_inbox: ConsumerInboxTable;
}

/** One row per outbox shard: which relay copy publishes it, until when. */
export interface RelayLeasesTable {
  shard: number;
  holder: string | null;
  expires_at: number;
}

/** Live relay copies (heartbeat), so each can take its fair share of shards. */
export interface RelayMembersTable {
  holder: string;
  expires_at: number;
}

export interface RelayTables {
  relay_leases: RelayLeasesTable;
  relay_members: RelayMembersTable;
}
