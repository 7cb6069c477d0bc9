/** Opaque, HMAC-bound multipart upload ids. */
export * from './src/upload-id';
