/** SigV4 verification, framework-free. */
export * from './src/encoding';
export * from './src/sigv4';
