/** Disputes (chargebacks): the use case the gateway webhook processors call, and its views. */
export { applyDisputeEvent, type DisputeEventProps, type DisputeEventResult } from './apply.js';
export * from './domain.js';
export { disputeView, listPaymentDisputes, type DisputeView } from './records.js';
