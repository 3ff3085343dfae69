/** Row types of durable jobs and test clocks (merged into Database in schema.ts). Owned by platform/jobs. */

export interface ScheduledJobsTable {
  id: string;
  kind: string;
  /** Unique: scheduling the same key again is the same job. */
  job_key: string;
  /** What the job acts on (a subscription, an invoice, a revenue schedule). */
  subject_id: string;
  /** The test clock whose time `run_at` is in; null: the system clock. */
  clock_id: string | null;
  run_at: number;
  /** pending (a lease in the future means it is running), done, canceled. */
  status: string;
  attempts: number;
  lease_owner: string | null;
  /** System time until which the claim holds (also the back-off before a failed job's retry). */
  lease_until: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  version: number;
}

export interface TestClocksTable {
  id: string;
  name: string;
  frozen_time: number;
  /** ready, advancing. */
  status: string;
  advance_to: number | null;
  /** The advance that holds the clock (a random token); every write of an advance is conditional on it. */
  advance_owner: string | null;
  /** System time until which an advance holds the clock. */
  lease_until: number | null;
  created_at: number;
  updated_at: number;
}

export interface TestClockCustomersTable {
  customer_id: string;
  clock_id: string;
  created_at: number;
}

export interface JobsTables {
  scheduled_jobs: ScheduledJobsTable;
  test_clocks: TestClocksTable;
  test_clock_customers: TestClockCustomersTable;
}
