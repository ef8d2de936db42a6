/** Warden's version, shown on `/` and in the OpenAPI document. */
export const VERSION = '0.1.0';
