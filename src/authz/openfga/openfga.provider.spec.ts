import { join } from 'node:path';
import { startOpenFgaStandIn, type OpenFgaStandIn } from '../../../test/helpers/openfga-standin';
import { connectionsOpenedBy } from '../../common/async-context.testing';
import type { RouteConfig } from '../../config/config.schema';
import { routeWithAuthz, UPLOAD_INPUT as input } from '../authz.testing';
import { openFgaSchema } from '../authz.schema';
import { OpenFgaProvider } from './openfga.provider';

/** The model the project ships (examples/openfga/model.fga). */
const MODEL_FILE = join(__dirname, '..', '..', '..', 'examples', 'openfga', 'model.json');

describe('OpenFgaProvider', () => {
  // A stand-in per test, so that each test's first check opens a connection of its own.
  let fga: OpenFgaStandIn;
  let route: RouteConfig;

  beforeEach(async () => {
    // alice may edit the bucket, so the contextual tuples lead from the file to her grant.
    fga = await startOpenFgaStandIn({
      model: MODEL_FILE,
      tuples: [{ user: 'user:alice', relation: 'editor', object: 'bucket:uploads' }],
    });
    route = routeWithAuthz({
      openfga: openFgaSchema.parse({ url: fga.url, store_id: fga.storeId }),
    });
  });
  afterEach(() => fga.close());

  it('checks the file against its folder and bucket, and reads the answer', async () => {
    const provider = new OpenFgaProvider();
    try {
      await expect(provider.decide(input, route)).resolves.toEqual({ allow: true });
      fga.clearTuples();
      await expect(provider.decide(input, route)).resolves.toEqual({
        allow: false,
        reason: 'no editor relation',
      });
    } finally {
      provider.onApplicationShutdown();
    }

    expect(fga.checks).toHaveLength(2);
    expect(fga.checks[0].storeId).toBe(fga.storeId);
    expect(fga.checks[0].body).toMatchObject({
      tuple_key: { user: 'user:alice', relation: 'editor', object: 'file:uploads/a/b.txt' },
      contextual_tuples: {
        tuple_keys: [
          { user: 'folder:uploads/a/', relation: 'parent', object: 'file:uploads/a/b.txt' },
          { user: 'bucket:uploads', relation: 'parent', object: 'folder:uploads/a/' },
        ],
      },
    });
  });

  it('opens its pooled connection in no request’s async context, and closes it at shutdown', async () => {
    const provider = new OpenFgaProvider();
    let decision: unknown;

    const opened = await connectionsOpenedBy(async () => {
      decision = await provider.decide(input, route);
    });
    expect(decision).toEqual({ allow: true });
    expect(opened).toEqual({ connects: 1, inTheRequest: 0 });

    // The connection stays pooled until the gateway shuts down, which closes it.
    expect(fga.openConnections).toBe(1);
    const closed = fga.connectionsClosed();
    provider.onApplicationShutdown();
    await closed;
  });
});
