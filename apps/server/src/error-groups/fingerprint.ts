// The hub's name for the shared fingerprint (packages/protocol/src/error-fingerprint.ts): the SDK
// matches retry policies with the same function, so hub and agents agree on a group's id.
export { fingerprintError } from '@warden/protocol';
export type { FingerprintInput } from '@warden/protocol';
