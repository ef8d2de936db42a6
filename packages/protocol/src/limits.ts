/** Size limits of SPEC §3 and §5; the server's config may change them. */
export interface ProtocolLimits {
  /** Largest accepted event, serialised as JSON. @defaultValue 65536 (64 KiB) */
  maxEventBytes: number;
  /** Most events in one batch. @defaultValue 1000 */
  maxBatchEvents: number;
  /** Largest batch body. @defaultValue 1048576 (1 MiB) */
  maxBatchBytes: number;
  /** Largest WebSocket frame. @defaultValue 2097152 (2 MiB) */
  maxFrameBytes: number;
  /** Deepest nesting of objects/arrays inside `data`. @defaultValue 32 */
  maxDepth: number;
}

export const DEFAULT_LIMITS: ProtocolLimits = Object.freeze({
  maxEventBytes: 64 * 1024,
  maxBatchEvents: 1000,
  maxBatchBytes: 1024 * 1024,
  maxFrameBytes: 2 * 1024 * 1024,
  maxDepth: 32,
});
