/**
 * The host of `url` as sockets take it: an IPv6 literal without the brackets that URLs put
 * around it (`http://[::1]:8000` connects to `::1`). Requests built from options rather than
 * from a URL (new http.ClientRequest) need it, or the lookup of `[::1]` fails.
 */
export function socketHost(url: URL): string {
  const { hostname } = url;
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}
