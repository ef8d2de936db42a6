/** The Warden agent SDK (work in progress). */
export const SDK_VERSION = '0.1.0';
