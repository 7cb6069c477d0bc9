/** SigV4 verification and signing, framework-free. */
export * from './src/encoding';
export * from './src/signer';
export * from './src/sigv4';
