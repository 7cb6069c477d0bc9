/** Request rate limiting, framework-free: token buckets, one per key, in a bounded map. */
export * from './src/token-bucket';
