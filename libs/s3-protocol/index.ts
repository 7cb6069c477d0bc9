/** S3 wire protocol, framework-free: errors, keys, operations, headers. */
export * from './src/errors';
export * from './src/xml';
export * from './src/object-key';
export * from './src/operation';
export * from './src/headers';
export * from './src/payload-hash';
export * from './src/checksum';
export * from './src/aws-chunked';
export * from './src/complete-multipart';
