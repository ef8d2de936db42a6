const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A ULID: 48 bits of milliseconds and 80 random bits in Crockford base 32, so ids sort by
 * creation time (friendly to the server's id index) and never collide in practice. Uses
 * `crypto.getRandomValues`, present in Node 20 and every browser.
 */
export function newEventId(now: number = Date.now()): string {
  let out = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  for (let i = 0; i < 16; i++) out += ALPHABET[bytes[i]! % 32]!;
  return out;
}
