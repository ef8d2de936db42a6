export const SUPERVISOR_VERSION = '0.1.0';
