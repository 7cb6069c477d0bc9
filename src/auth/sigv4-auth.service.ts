/**
 * SigV4 authentication with keys the gateway issues (`auth.sigv4.credentials`): verifies the
 * header or presigned form with libs/sigv4, and prepares the chunk-signature chain for
 * STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies. Secrets are never logged.
 */
import { Injectable, Logger } from '@nestjs/common';
import { type ChunkSignatureVerifier, S3Error } from '@mizuchi/s3-protocol';
import {
  ChunkSignatureChain,
  SigV4Error,
  verifySigV4,
  type SigV4Request,
  type VerifiedSigV4,
} from '@mizuchi/sigv4';
import type { SigV4Config } from './auth.schema';
import type { Principal } from './principal';

/** A request that passed SigV4 verification. */
export interface SigV4Authentication {
  principal: Principal;
  verified: VerifiedSigV4;
  /** Verifies the body's chunk signatures, for aws-chunked signed payloads. */
  chunkVerifier: ChunkSignatureVerifier;
}

/** Converts a libs/sigv4 failure into the S3 error the client gets (always 403). */
export function toS3AuthError(err: unknown): unknown {
  if (!(err instanceof SigV4Error)) return err;
  return new S3Error(err.code, err.message, { status: 403, cause: err });
}

/** Verifies SigV4 requests against a route's issued keys. */
@Injectable()
export class SigV4AuthService {
  private readonly logger = new Logger('SigV4Auth');

  /** Returns the authenticated principal, or throws a 403 S3Error. */
  authenticate(req: SigV4Request, cfg: SigV4Config, routeName: string): SigV4Authentication {
    let verified: VerifiedSigV4;
    try {
      verified = verifySigV4(req, {
        region: cfg.region,
        maxSkewSeconds: cfg.max_clock_skew_seconds,
        secretFor: (accessKeyId) =>
          cfg.credentials.find((c) => c.access_key === accessKeyId)?.secret_key,
      });
    } catch (err) {
      // The access key id is an identifier, not a secret: logging it lets operators trace a client.
      const reason = err instanceof SigV4Error ? err.code : 'error';
      this.logger.warn(`route ${routeName}: SigV4 refused (${reason})`);
      throw toS3AuthError(err);
    }
    const credential = cfg.credentials.find((c) => c.access_key === verified.claim.accessKeyId);
    const chain = new ChunkSignatureChain(verified);
    const guarded = (check: () => void) => {
      try {
        check();
      } catch (err) {
        throw toS3AuthError(err);
      }
    };
    return {
      principal: {
        subject: credential?.subject ?? verified.claim.accessKeyId,
        method: 'sigv4',
        claims: {},
      },
      verified,
      chunkVerifier: {
        verifyChunk: (signature, hash) => guarded(() => chain.verifyChunk(signature, hash)),
        verifyTrailer: (signature, trailer) =>
          guarded(() => chain.verifyTrailer(signature, trailer)),
      },
    };
  }
}
