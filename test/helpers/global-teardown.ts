/**
 * Jest global teardown of the e2e project. On CI the Ceph test backend is stopped; on a
 * developer machine it is left running so that the next test run starts instantly
 * (stop it by hand with `npm run s3:down`).
 */
import { runScript } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  // Only stop a cluster that the global setup brought up (not an external backend).
  const dir = process.env.MIZUCHI_TEST_CEPH_DIR;
  if (process.env.CI !== 'true' || !dir) return;
  await runScript('scripts/radosgw-down.sh', dir);
}
