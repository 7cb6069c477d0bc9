import { startOpaStandIn, type OpaStandIn } from '../../../test/helpers/opa-standin';
import { connectionsOpenedBy } from '../../common/async-context.testing';
import type { RouteConfig } from '../../config/config.schema';
import { routeWithAuthz, UPLOAD_INPUT as input } from '../authz.testing';
import { opaSchema } from '../authz.schema';
import { interpretOpaResult, OpaProvider } from './opa.provider';

describe('OpaProvider', () => {
  // A stand-in per test, so that each test's first call opens a connection of its own.
  let opa: OpaStandIn;
  let route: RouteConfig;

  beforeEach(async () => {
    opa = await startOpaStandIn();
    route = routeWithAuthz({
      opa: opaSchema.parse({ url: `${opa.url}/`, policy_path: 'mizuchi/allow' }),
    });
  });
  afterEach(() => opa.close());

  it('posts the input to the Data API and reads the decision', async () => {
    opa.setPolicy({ 'mizuchi/allow': () => ({ allow: false, reason: 'not in the group' }) });

    await expect(new OpaProvider().decide(input, route)).resolves.toEqual({
      allow: false,
      reason: 'not in the group',
    });
    expect(opa.calls.map(({ method, path, body }) => ({ method, path, body }))).toEqual([
      { method: 'POST', path: 'mizuchi/allow', body: { input } },
    ]);
  });

  it('fails when OPA answers an error, so the route’s fail mode decides', async () => {
    opa.failWith(500);

    await expect(new OpaProvider().decide(input, route)).rejects.toThrow('OPA answered 500');
  });

  it('opens its pooled connection in no request’s async context', async () => {
    opa.setPolicy({ 'mizuchi/allow': () => true });
    let decision: unknown;

    const opened = await connectionsOpenedBy(async () => {
      decision = await new OpaProvider().decide(input, route);
    });

    expect(decision).toEqual({ allow: true });
    expect(opened).toEqual({ connects: 1, inTheRequest: 0 });
  });
});

describe('interpretOpaResult', () => {
  it('reads a boolean, {allow, reason} and denies anything else', () => {
    expect(interpretOpaResult(true)).toEqual({ allow: true });
    expect(interpretOpaResult(false)).toEqual({ allow: false });
    expect(interpretOpaResult({ allow: true })).toEqual({ allow: true, reason: undefined });
    expect(interpretOpaResult({ allow: 'yes', reason: 7 })).toEqual({
      allow: false,
      reason: undefined,
    });
    expect(interpretOpaResult(undefined)).toEqual({
      allow: false,
      reason: 'policy result is undefined',
    });
    expect(interpretOpaResult(['allow'])).toEqual({
      allow: false,
      reason: 'policy result is not a decision',
    });
  });
});
