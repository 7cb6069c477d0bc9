import { join } from 'node:path';
import { appConfigSchema } from './config.schema';
import { defaultConfig } from './default-config';
import { ConfigError } from './load-config';

describe('defaultConfig', () => {
  it('serves one anonymous filesystem route under <cwd>/data/uploads', () => {
    const config = defaultConfig('/srv/app', {});
    expect(config.buckets).toHaveLength(1);
    const [route] = config.buckets;
    expect(route.name).toBe('uploads');
    expect(route.path_prefix).toBe('/uploads');
    expect(route.filesystem).toEqual({ path: join('/srv/app', 'data', 'uploads') });
    expect(route.s3).toBeUndefined();
    expect(route.auth.enabled).toBe(false);
    expect(config.server.address).toBe('0.0.0.0:8080');
  });

  it('is a fixed point of the schema, so its defaults are the schema defaults', () => {
    const config = defaultConfig('/srv/app', {});
    expect(appConfigSchema.parse(config)).toEqual(config);
  });

  it('listens on HOST and PORT when they are set', () => {
    expect(defaultConfig('/x', { PORT: '9000' }).server.address).toBe('0.0.0.0:9000');
    expect(defaultConfig('/x', { HOST: '::', PORT: '9000' }).server.address).toBe('[::]:9000');
    expect(defaultConfig('/x', { HOST: '127.0.0.1' }).server.address).toBe('127.0.0.1:8080');
  });

  it('takes the upload-id secret from MIZUCHI_UPLOAD_ID_SECRET, as the start-up warning says', () => {
    const secret = 'a-secret-of-at-least-thirty-two-characters';
    expect(defaultConfig('/x', { MIZUCHI_UPLOAD_ID_SECRET: secret }).server.upload_id_secret).toBe(
      secret,
    );
    expect(defaultConfig('/x', {}).server.upload_id_secret).toBeUndefined();
    expect(() => defaultConfig('/x', { MIZUCHI_UPLOAD_ID_SECRET: 'short' })).toThrow(ConfigError);
  });

  it('reports an unusable PORT as a config error', () => {
    expect(() => defaultConfig('/x', { PORT: '70000' })).toThrow(ConfigError);
  });
});
