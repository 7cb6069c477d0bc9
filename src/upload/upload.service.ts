/**
 * UploadService: turns one classified S3 request into backend calls. It sees a body stream and
 * parsed parameters, never Express objects, and owns the rule that a failed upload leaves nothing.
 */
import { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { type RawHeaders, readObjectAttributes, responseHeaders } from '@mizuchi/s3-protocol';
import type { S3RequestContext } from '../common/request-context';
import { StorageRegistry } from '../storage/storage.registry';
import { BodyGate, Transfer } from './body-source';
import { InFlightUploads } from './in-flight-uploads';
import { checkObjectSize, drain, planPayload } from './payload';

/** Uploads objects to the backend of the request's route. */
@Injectable()
export class UploadService {
  constructor(
    @Inject(StorageRegistry) private readonly storage: StorageRegistry,
    @Inject(InFlightUploads) private readonly inFlight: InFlightUploads,
  ) {}

  /** PutObject: streams `body` into the backend and returns the headers for the client. */
  async putObject(
    ctx: S3RequestContext,
    body: Readable,
    headers: RawHeaders,
    clientSignal: AbortSignal,
  ): Promise<Record<string, string>> {
    const upload = ctx.route.upload;
    const attributes = readObjectAttributes(headers, upload.forwarded_headers, upload.force_acl);
    const plan = planPayload(headers, attributes);
    checkObjectSize(plan.length, upload.max_object_size);
    const storage = this.storage.get(ctx.route.name);

    return this.inFlight.run(clientSignal, async (signal) => {
      const gate = new BodyGate(plan.length);
      const transfer = new Transfer(body, [...plan.stages, gate], signal);
      try {
        if (plan.length === 0) {
          // An empty body is checked whole before the backend is called, so a failed digest on
          // zero bytes cannot create an empty object either.
          await drain(gate);
        }
        const result = await storage.putObject({
          key: ctx.key,
          body: plan.length === 0 ? Readable.from([]) : gate,
          contentLength: plan.length,
          attributes,
          signal: transfer.signal,
        });
        transfer.throwIfFailed();
        return responseHeaders({ ...result, checksum: plan.verifiedChecksum() ?? result.checksum });
      } catch (err) {
        transfer.fail(err);
        throw transfer.firstError();
      } finally {
        transfer.dispose();
      }
    });
  }
}
