/**
 * Maps a request path onto a configured route: the longest `path_prefix` that ends on a path
 * segment boundary wins, so `/uploads2/x` never matches `/uploads`.
 */
import type { RouteConfig } from '../config/config.schema';

/** A route matched against a request path. */
export interface RouteMatch {
  route: RouteConfig;
  /** The rest of the path after `prefix/`, still percent-encoded; '' when only the bucket is named. */
  rawKey: string;
  /** The path went past the bucket (`/prefix/`), even if the key after it is empty. */
  keyed: boolean;
}

/** Longest-prefix route lookup over the configured buckets. */
export class RouteResolver {
  private readonly routes: RouteConfig[];

  constructor(routes: readonly RouteConfig[]) {
    // Longest first, so the first match is the longest one.
    this.routes = [...routes].sort((a, b) => b.path_prefix.length - a.path_prefix.length);
  }

  /** Resolves a raw (undecoded) URL path, without its query string. */
  resolve(rawPath: string): RouteMatch | undefined {
    for (const route of this.routes) {
      const prefix = route.path_prefix;
      if (rawPath === prefix) return { route, rawKey: '', keyed: false };
      if (rawPath.startsWith(`${prefix}/`)) {
        return { route, rawKey: rawPath.slice(prefix.length + 1), keyed: true };
      }
    }
    return undefined;
  }
}
