import { parseConfig } from '../config/load-config';
import type { RouteConfig } from '../config/config.schema';
import { RouteResolver } from './route-resolver';

/** Validated filesystem routes, one per prefix, named after their position. */
function routes(...prefixes: string[]): RouteConfig[] {
  const config = parseConfig(
    {
      buckets: prefixes.map((prefix, index) => ({
        name: `route-${index}`,
        path_prefix: prefix,
        filesystem: { path: `/var/lib/mizuchi/route-${index}` },
      })),
    },
    {},
  );
  return config.buckets;
}

function resolverFor(...prefixes: string[]): RouteResolver {
  return new RouteResolver(routes(...prefixes));
}

/** The prefix of the route a path resolves to, or undefined. */
function prefixFor(resolver: RouteResolver, path: string): string | undefined {
  return resolver.resolve(path)?.route.path_prefix;
}

describe('RouteResolver', () => {
  it('resolves a key under a configured prefix', () => {
    const match = resolverFor('/uploads').resolve('/uploads/photos/a.jpg');
    expect(match?.route.name).toBe('route-0');
    expect(match?.rawKey).toBe('photos/a.jpg');
    expect(match?.keyed).toBe(true);
  });

  it('returns the validated route itself', () => {
    const configured = routes('/uploads');
    const match = new RouteResolver(configured).resolve('/uploads/a');
    expect(match?.route).toBe(configured[0]);
    expect(match?.route.filesystem).toEqual({ path: '/var/lib/mizuchi/route-0' });
  });

  describe('segment boundaries', () => {
    it('never matches a prefix that only starts the first segment', () => {
      const resolver = resolverFor('/uploads');
      expect(resolver.resolve('/uploads2/x')).toBeUndefined();
      expect(resolver.resolve('/uploads2')).toBeUndefined();
      expect(resolver.resolve('/uploads-old/x')).toBeUndefined();
      expect(resolver.resolve('/uploads.bak/x')).toBeUndefined();
    });

    it('tells apart two routes where one name starts the other', () => {
      const resolver = resolverFor('/uploads', '/uploads2');
      expect(prefixFor(resolver, '/uploads/x')).toBe('/uploads');
      expect(prefixFor(resolver, '/uploads2/x')).toBe('/uploads2');
      expect(resolver.resolve('/uploads2/x')?.rawKey).toBe('x');
    });

    it('does not match a shorter path or an unrelated one', () => {
      const resolver = resolverFor('/uploads');
      expect(resolver.resolve('/upload')).toBeUndefined();
      expect(resolver.resolve('/upload/x')).toBeUndefined();
      expect(resolver.resolve('/')).toBeUndefined();
      expect(resolver.resolve('')).toBeUndefined();
      expect(resolver.resolve('/other/uploads/x')).toBeUndefined();
    });

    it('does not match a prefix written with a percent-escape', () => {
      // Prefixes are compared with the raw path: %73 is "s", but the path is not decoded here.
      expect(resolverFor('/uploads').resolve('/upload%73/x')).toBeUndefined();
    });

    it('is case-sensitive, like S3 bucket names in paths', () => {
      expect(resolverFor('/uploads').resolve('/Uploads/x')).toBeUndefined();
    });
  });

  describe('longest prefix', () => {
    it('prefers the longer of two nested multi-segment prefixes', () => {
      const resolver = resolverFor('/team', '/team/images');
      const nested = resolver.resolve('/team/images/cat.png');
      expect(nested?.route.path_prefix).toBe('/team/images');
      expect(nested?.rawKey).toBe('cat.png');
      const outer = resolver.resolve('/team/docs/a.pdf');
      expect(outer?.route.path_prefix).toBe('/team');
      expect(outer?.rawKey).toBe('docs/a.pdf');
    });

    it('does not depend on the order of the routes in the configuration', () => {
      for (const prefixes of [
        ['/a', '/a/b', '/a/b/c'],
        ['/a/b/c', '/a/b', '/a'],
        ['/a/b', '/a/b/c', '/a'],
      ]) {
        const resolver = resolverFor(...prefixes);
        expect(prefixFor(resolver, '/a/b/c/d')).toBe('/a/b/c');
        expect(prefixFor(resolver, '/a/b/x')).toBe('/a/b');
        expect(prefixFor(resolver, '/a/x')).toBe('/a');
      }
    });

    it('respects segment boundaries inside a multi-segment prefix', () => {
      const resolver = resolverFor('/team', '/team/images');
      const match = resolver.resolve('/team/images2/cat.png');
      expect(match?.route.path_prefix).toBe('/team');
      expect(match?.rawKey).toBe('images2/cat.png');
    });

    it('gives the key below a nested prefix to the nested route only', () => {
      const resolver = resolverFor('/v1/uploads/images', '/v1');
      expect(resolver.resolve('/v1/uploads/images/a')?.rawKey).toBe('a');
      expect(resolver.resolve('/v1/uploads/a')?.rawKey).toBe('uploads/a');
    });
  });

  describe('bucket-only paths', () => {
    it('marks the bare prefix as naming only the bucket', () => {
      const match = resolverFor('/p').resolve('/p');
      expect(match?.route.path_prefix).toBe('/p');
      expect(match?.keyed).toBe(false);
      expect(match?.rawKey).toBe('');
    });

    it('marks the prefix with a trailing slash as keyed, with an empty key', () => {
      const match = resolverFor('/p').resolve('/p/');
      expect(match?.route.path_prefix).toBe('/p');
      expect(match?.keyed).toBe(true);
      expect(match?.rawKey).toBe('');
    });

    it('resolves the bare form of a nested prefix to the nested route', () => {
      const resolver = resolverFor('/team', '/team/images');
      const match = resolver.resolve('/team/images');
      expect(match?.route.path_prefix).toBe('/team/images');
      expect(match?.keyed).toBe(false);
    });
  });

  describe('raw keys', () => {
    it('keeps percent-escapes as they were sent', () => {
      const resolver = resolverFor('/uploads');
      expect(resolver.resolve('/uploads/a%20b%2Fc.txt')?.rawKey).toBe('a%20b%2Fc.txt');
      expect(resolver.resolve('/uploads/%E6%B0%B4.png')?.rawKey).toBe('%E6%B0%B4.png');
      expect(resolver.resolve('/uploads/100%25')?.rawKey).toBe('100%25');
    });

    it('keeps plus signs, empty segments, dot segments and a trailing slash', () => {
      const resolver = resolverFor('/uploads');
      expect(resolver.resolve('/uploads/a+b')?.rawKey).toBe('a+b');
      expect(resolver.resolve('/uploads/a//b')?.rawKey).toBe('a//b');
      expect(resolver.resolve('/uploads/a/../b')?.rawKey).toBe('a/../b');
      expect(resolver.resolve('/uploads/dir/')?.rawKey).toBe('dir/');
    });

    it('keeps a leading slash of the key after the prefix separator', () => {
      expect(resolverFor('/uploads').resolve('/uploads//a')?.rawKey).toBe('/a');
    });
  });

  it('resolves nothing when no route is configured', () => {
    expect(new RouteResolver([]).resolve('/uploads/x')).toBeUndefined();
  });

  it('does not reorder the list it was given', () => {
    const configured = routes('/a', '/a/b');
    new RouteResolver(configured).resolve('/a/b/c');
    expect(configured.map((r) => r.path_prefix)).toEqual(['/a', '/a/b']);
  });
});
