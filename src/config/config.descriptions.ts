/**
 * What every configuration key means, in one place. docs/CONFIGURATION.md is generated from this
 * map and the zod schema (`npm run docs:config`); src/config/config-docs.spec.ts fails when a
 * schema key has no entry here, when an entry names a key the schema does not have, or when the
 * generated reference is out of date. `--print-config` masks the keys marked `secret`.
 */

/** The documentation of one key. */
export interface KeyDoc {
  /** What the key does and when to change it, in full sentences. */
  text: string;
  /**
   * A YAML value for the key, valid for it on its own (`32768`, `[RS256]`, `'{sub}/{key}'`).
   * Every key that holds a value has one; mappings and lists of mappings do not.
   */
  example?: string;
  /** Replaces the default stated by the schema, for defaults computed at load time. */
  default?: string;
  /** Replaces the type derived from the schema where that reads badly. */
  type?: string;
  /** Key material or a credential: `--print-config` masks it; supply it through `${VAR}`. */
  secret?: true;
}

/**
 * Keyed by path as {@link schemaFields} spells it: `server.limits.max_header_bytes`,
 * `buckets[].auth.jwt.secret` (`[]` marks the items of a list).
 */
export const CONFIG_DESCRIPTIONS: Readonly<Record<string, KeyDoc>> = {
  // --- server -------------------------------------------------------------------------------
  server: {
    text: 'The HTTP server: where it listens, its zero-copy path, request limits, worker processes, graceful shutdown and the stale-upload janitor.',
  },
  'server.address': {
    text: 'Address the gateway listens on, as `host:port`. Write IPv6 hosts in brackets. Without a config file, the `HOST` and `PORT` environment variables set it instead.',
    example: '"[::]:8080"',
  },
  'server.zero_copy': {
    text: 'The splice(2) path that moves plain request bodies socket to pipe to socket without copying them through Node.js. It needs Linux and the optional native addon; `mizuchi --version` says whether the addon loaded.',
  },
  'server.zero_copy.enabled': {
    text: 'Splice bodies that need no decoding or hashing in the gateway (Linux only, native addon built). Setting the environment variable `ZERO_COPY=off` disables it as well.',
    example: 'false',
  },
  'server.zero_copy.pipe_buffer_size': {
    text: 'Kernel pipe size the gateway requests with `F_SETPIPE_SZ` for each spliced body. Larger pipes mean fewer system calls per byte; the kernel may cap the value (`/proc/sys/fs/pipe-max-size`).',
    example: '4MiB',
  },
  'server.zero_copy.min_body_bytes': {
    text: 'Bodies smaller than this are streamed even when they could be spliced, because setting up a splice costs more than it saves on small bodies.',
    example: '1MiB',
  },
  'server.limits': {
    text: 'Request limits. Each refusal is an S3 XML error counted in `mizuchi_errors_total{code}`. Every process (each of `server.workers`) applies them on its own.',
  },
  'server.limits.max_header_bytes': {
    text: 'Largest request head (request line plus headers) in bytes. A larger one gets `431 RequestHeaderSectionTooLarge`; AWS answers the same code with status 400.',
    example: '32768',
  },
  'server.limits.max_key_bytes': {
    text: "Longest object key in UTF-8 bytes after URI-decoding. A longer key gets `400 KeyTooLongError`; S3's own limit is 1024.",
    example: '512',
  },
  'server.limits.max_url_bytes': {
    text: 'Longest request target (path and query, as sent) in bytes. A longer one gets `414 InvalidURI`; the target also counts toward `max_header_bytes`.',
    example: '4096',
  },
  'server.limits.max_concurrent_uploads': {
    text: 'Request bodies (PutObject and UploadPart) that may be in transfer at once. One more gets `503 SlowDown` with `Retry-After: 1`; other operations are not counted. Unset means no limit.',
    example: '256',
    default: 'unlimited',
  },
  'server.limits.idle_timeout_seconds': {
    text: 'Seconds a client may stay silent. A client that stops sending mid-body is cut off, leaving no object and no multipart upload; a request head that takes longer than this gets `408 RequestTimeout`. Time the gateway spends waiting on a backend or a full part buffer never counts, and there is no cap on the total time of an upload.',
    example: '120',
  },
  'server.limits.part_buffer_bytes': {
    text: 'Memory shared by all auto-multipart uploads of one process for their part buffers. An upload that finds the budget spent waits, which slows its client down instead of growing memory; size container memory limits with it in mind.',
    example: '256MiB',
  },
  'server.limits.rate_limit': {
    text: 'A token bucket per principal: each authenticated subject (JWT `sub`, SigV4 key subject, custom authenticator subject), or each client address on anonymous routes, across all routes. A request that finds its bucket empty gets `503 SlowDown` with `Retry-After` set to the whole seconds until a token is due. It runs after authentication and before authorization, so a throttled caller costs no policy-engine call.',
    default: 'off',
  },
  'server.limits.rate_limit.requests_per_second': {
    text: 'Tokens added to each bucket per second; fractions such as 0.5 allow one request every two seconds.',
    example: '20',
  },
  'server.limits.rate_limit.burst': {
    text: 'Requests a principal may send back to back before the rate applies (the bucket size).',
    example: '40',
    default: '`requests_per_second` rounded up',
  },
  'server.shutdown_grace_seconds': {
    text: 'Seconds in-flight uploads may take to finish after SIGTERM or SIGINT before they are aborted and the process exits 0. Under Kubernetes, keep `terminationGracePeriodSeconds` above it.',
    example: '60',
  },
  'server.upload_id_secret': {
    text: 'HMAC key that binds each multipart `UploadId` to its caller, route and key, so a forged or foreign id gets `404 NoSuchUpload`. Set the same value on every replica so that any replica can continue an upload; generate one with `openssl rand -hex 32`.',
    example: '${MIZUCHI_UPLOAD_ID_SECRET}',
    default:
      'a random key per start-up (shared by the workers of one process), so ids survive neither a restart nor a hop to another replica',
    secret: true,
  },
  'server.workers': {
    text: 'Worker processes serving the same port through `node:cluster`: a positive integer, or `auto` for one per CPU (`os.availableParallelism()`; under a container CPU quota set a number). Limits apply per worker, the janitor runs in worker 1 only, and routes with SigV4 replay protection need the Redis replay store when this is above 1.',
    example: 'auto',
    type: 'positive integer or `auto`',
  },
  'server.trust_proxy': {
    text: "Which proxies in front of the gateway (a load balancer, an ingress) may name the client in `X-Forwarded-For`: `false` (the client is the TCP peer and the header is ignored), a number of proxy hops (1-32), or a list of the proxies' addresses and CIDRs, with the names `loopback`, `linklocal` and `uniquelocal`. The address found is what the anonymous rate limit counts against, OPA's `input.client_ip` and a custom authenticator's `clientIp`. `true` is refused: any client could then name its own address.",
    example: '[10.0.0.0/8]',
    type: '`false`, an integer, or a list of addresses and CIDRs',
  },
  'server.janitor': {
    text: 'Sweeps every route backend for multipart uploads that were started and then abandoned, and aborts them. It aborts any stale upload in the bucket, including other tools, so enable it only for buckets the gateway owns.',
  },
  'server.janitor.enabled': {
    text: 'Run the janitor.',
    example: 'true',
  },
  'server.janitor.interval_seconds': {
    text: 'Seconds between two sweeps.',
    example: '900',
  },
  'server.janitor.max_age_seconds': {
    text: 'Uploads initiated longer ago than this many seconds are aborted by the next sweep.',
    example: '172800',
  },

  // --- routes -------------------------------------------------------------------------------
  buckets: {
    text: 'The routes. Each maps a path prefix to one backend; clients address it path-style, so for `path_prefix: /uploads` the S3 bucket name is `uploads` and `PUT /uploads/photos/cat.jpg` stores the key `photos/cat.jpg`. The longest prefix wins on a path-segment boundary. Names and prefixes must be unique, and no prefix may shadow `/health` or the metrics path.',
  },
  'buckets[].name': {
    text: "The route's label in logs and metrics: 1-64 letters, digits, `_`, `.` or `-`.",
    example: 'uploads',
  },
  'buckets[].path_prefix': {
    text: 'URL prefix of the route, which clients use as the bucket name. It starts with `/`, has no trailing `/` and no empty, `.` or `..` segments; it may have several segments (`/team/a`) made of letters, digits, `-`, `.`, `_` and `~`.',
    example: '/uploads',
  },
  'buckets[].s3': {
    text: 'An S3-compatible backend (AWS S3, Ceph RADOS Gateway, MinIO, Swift s3api). A route has exactly one backend: `s3` or `filesystem`. Its credentials stay on the gateway; clients never see them.',
  },
  'buckets[].s3.bucket': {
    text: 'Backend bucket that receives the objects.',
    example: 'uploads',
  },
  'buckets[].s3.region': {
    text: 'Region the gateway signs backend requests for.',
    example: 'eu-west-1',
  },
  'buckets[].s3.endpoint': {
    text: 'Endpoint URL of a non-AWS service, such as Ceph RGW on port 7480 or MinIO on port 9000.',
    example: 'http://minio:9000',
    default: 'the AWS endpoint of `region`',
  },
  'buckets[].s3.access_key': {
    text: "Access key id of the gateway's backend credential; set it together with `secret_key`. With neither, the AWS default credential chain applies (environment, shared config, instance or pod role).",
    example: '${S3_ACCESS_KEY}',
    default: 'the AWS default credential chain',
  },
  'buckets[].s3.secret_key': {
    text: "Secret access key of the gateway's backend credential, set together with `access_key`.",
    example: '${S3_SECRET_KEY}',
    default: 'the AWS default credential chain',
    secret: true,
  },
  'buckets[].s3.force_path_style': {
    text: 'Address the backend path-style (`https://host/bucket/key`), which Ceph and MinIO need; false uses virtual-hosted style (`https://bucket.host/key`).',
    example: 'false',
  },
  'buckets[].s3.timeout_seconds': {
    text: 'Seconds a backend request may take without progress before it is abandoned and the client gets `504`.',
    example: '120',
  },
  'buckets[].s3.connect_timeout_seconds': {
    text: 'Seconds to open a connection to the backend before the attempt fails.',
    example: '10',
  },
  'buckets[].s3.max_sockets': {
    text: 'Keep-alive sockets the gateway holds open to this backend per process.',
    example: '128',
  },
  'buckets[].s3.max_attempts': {
    text: 'Attempts per backend request, the first included, with backoff between them; 1 disables retries.',
    example: '5',
  },
  'buckets[].filesystem': {
    text: 'The built-in filesystem backend for single-machine use. Objects appear whole or not at all (temporary file, fsync, rename), multipart parts are staged and joined on Complete, and ETags match what S3 computes.',
  },
  'buckets[].filesystem.path': {
    text: 'Directory that holds the objects; a relative path resolves against the working directory.',
    example: '/var/lib/mizuchi/uploads',
  },
  'buckets[].upload': {
    text: 'How uploads on this route are shaped and what the route accepts.',
  },
  'buckets[].upload.multipart_threshold': {
    text: 'A PutObject larger than this, or of unknown length, becomes a backend multipart upload; the client still sees one PutObject.',
    example: '100MiB',
  },
  'buckets[].upload.part_size': {
    text: 'Part size of those auto-multipart uploads, grown automatically to stay within 10,000 parts.',
    example: '32MiB',
  },
  'buckets[].upload.concurrent_parts': {
    text: 'Parts of one auto-multipart upload sent to the backend in parallel.',
    example: '8',
  },
  'buckets[].upload.max_object_size': {
    text: 'Largest object the route accepts. A larger Content-Length, a body of unknown length that grows past it, a single part past it, or a Complete whose parts add up to more, gets `413 EntityTooLarge` before the backend receives the excess.',
    example: '5GiB',
    default: 'no limit of its own (S3 stops at 5 TiB)',
  },
  'buckets[].upload.allowed_content_types': {
    text: 'Content-Type patterns the route accepts, such as `image/png`, `image/*` or `*/*`; a PutObject or CreateMultipartUpload with any other type is refused with `415 InvalidArgument` before the body is read.',
    example: '[image/*, application/pdf]',
    default: 'any type',
  },
  'buckets[].upload.key_template': {
    text: "Template for the stored key. `{key}` (required) is the client's key, `{sub}` the principal's subject made safe for one path segment, and `{date}` the UTC date as YYYY-MM-DD; `{sub}/{key}` keeps each principal's uploads under its own prefix.",
    example: "'{sub}/{key}'",
    default: 'the key as the client sent it',
  },
  'buckets[].upload.forwarded_headers': {
    text: 'Optional client headers forwarded to the backend on top of the standard ones (Content-Type, Content-MD5, `x-amz-meta-*`, checksums and the like, which are always forwarded).',
    example: '[x-amz-storage-class, x-amz-tagging]',
  },
  'buckets[].upload.force_acl': {
    text: 'Canned ACL put on every object, replacing any `x-amz-acl` from the client; it cannot be combined with forwarding `x-amz-acl`.',
    example: 'bucket-owner-full-control',
    default: "none (the bucket's default)",
  },
  'buckets[].auth': {
    text: 'Authentication of the route. Disabled, the route is anonymous. See docs/AUTH.md.',
  },
  'buckets[].auth.enabled': {
    text: 'Require every request to authenticate with one of the configured methods (`jwt`, `sigv4` or `custom`); at least one must be set when this is true.',
    example: 'true',
  },
  'buckets[].auth.jwt': {
    text: 'JWT bearer tokens, verified with a shared secret, a PEM public key or a JWKS URL (exactly one). Clients that fail get 401 with `WWW-Authenticate: Bearer error="invalid_token"`.',
  },
  'buckets[].auth.jwt.algorithms': {
    text: 'Signing algorithms accepted. HS256/384/512 need `secret`; RS, ES and PS algorithms need `public_key_file` or `jwks_url`. `none` is always refused, and a secret and a public key never share an allowlist.',
    example: '[RS256, ES256]',
  },
  'buckets[].auth.jwt.secret': {
    text: 'Shared HMAC secret for the HS algorithms, at least 32 characters.',
    example: '${MIZUCHI_JWT_SECRET}',
    secret: true,
  },
  'buckets[].auth.jwt.public_key_file': {
    text: 'Path of a PEM public key for the RS, ES or PS algorithms; the file is read and checked against the algorithms at start-up.',
    example: '/etc/mizuchi/jwt.pub.pem',
  },
  'buckets[].auth.jwt.jwks_url': {
    text: 'URL of a JSON Web Key Set. Keys are cached and looked up by `kid`; an unknown `kid` triggers one rate-limited refresh, so key rotation needs no restart.',
    example: 'https://id.example.com/.well-known/jwks.json',
  },
  'buckets[].auth.jwt.jwks_cache_ttl_seconds': {
    text: 'Seconds a fetched key set is used before it is refreshed in the background; requests keep using the cached keys meanwhile.',
    example: '300',
  },
  'buckets[].auth.jwt.issuer': {
    text: 'Required `iss` claim: one issuer or a list of accepted issuers.',
    example: 'https://id.example.com/',
    default: 'not checked',
  },
  'buckets[].auth.jwt.audience': {
    text: 'Required `aud` claim: one audience or a list; a token passes when it names one of them.',
    example: 'mizuchi',
    default: 'not checked',
  },
  'buckets[].auth.jwt.leeway_seconds': {
    text: 'Clock skew allowed when checking `exp` and `nbf`, in seconds.',
    example: '10',
  },
  'buckets[].auth.jwt.token_sources': {
    text: 'Where the gateway looks for the token, tried in the listed order.',
  },
  'buckets[].auth.jwt.token_sources[].type': {
    text: '`bearer` reads `Authorization: Bearer <token>`, `header` reads the header named by `name`, and `query` reads the query parameter named by `name`.',
    example: 'header',
  },
  'buckets[].auth.jwt.token_sources[].name': {
    text: 'Header or query parameter name, for the `header` and `query` types (required there).',
    example: 'x-upload-token',
  },
  'buckets[].auth.jwt.claims': {
    text: "Rules every verified token's claims must satisfy; a token that breaks one gets 401.",
  },
  'buckets[].auth.jwt.claims[].claim': {
    text: 'Name of the claim the rule checks; a missing claim fails the rule.',
    example: 'scope',
  },
  'buckets[].auth.jwt.claims[].operator': {
    text: '`equals` compares the claim with `value`, `in` requires the claim to be one of the values in the list `value`, and `contains` requires a list claim to hold `value` or a string claim to contain it as a substring.',
    example: 'contains',
  },
  'buckets[].auth.jwt.claims[].value': {
    text: 'The value the claim is compared with: a single string, number or boolean, or a list of them for `in`.',
    example: 'upload',
    type: 'string, number or boolean, or a non-empty list of them',
  },
  'buckets[].auth.sigv4': {
    text: 'AWS Signature Version 4 with access keys issued by the gateway (never a backend credential), in header and presigned form, including chunk-signed streaming bodies. Failures get 403 with the S3 error code.',
  },
  'buckets[].auth.sigv4.region': {
    text: 'Region clients sign for; a signature whose credential scope names another region is refused.',
    example: 'eu-west-1',
  },
  'buckets[].auth.sigv4.credentials': {
    text: 'The access keys clients sign with, each mapped to the subject it authenticates as. Access keys must be unique.',
  },
  'buckets[].auth.sigv4.credentials[].access_key': {
    text: 'Access key id a client puts in its credential scope: 3-128 characters, no `/` or whitespace.',
    example: 'UPLOADER1',
  },
  'buckets[].auth.sigv4.credentials[].secret_key': {
    text: 'Secret key the client signs with, at least 8 characters.',
    example: '${MIZUCHI_CLIENT_SECRET_KEY}',
    secret: true,
  },
  'buckets[].auth.sigv4.credentials[].subject': {
    text: 'Subject of the principal this key authenticates as, seen by authorization, `key_template` and the rate limit.',
    example: 'uploader',
  },
  'buckets[].auth.sigv4.max_clock_skew_seconds': {
    text: 'Largest allowed difference between `x-amz-date` and the gateway clock; a request outside it gets `403 RequestTimeTooSkewed`.',
    example: '300',
  },
  'buckets[].auth.sigv4.replay_protection': {
    text: 'Refuse a signature that already completed an upload for the rest of its validity; retries of failed attempts still pass.',
    example: 'false',
  },
  'buckets[].auth.sigv4.replay_store': {
    text: 'Where used signatures are remembered. The in-memory store serves one process; with several workers or replicas use Redis, which every replica shares. While Redis is unreachable, signed requests get 503 and are never let through.',
  },
  'buckets[].auth.sigv4.replay_store.type': {
    text: '`memory` keeps used signatures in this process; `redis` keeps them in the Redis server at `url`.',
    example: 'redis',
  },
  'buckets[].auth.sigv4.replay_store.url': {
    text: 'Redis URL (`redis://` or `rediss://` for TLS), for the `redis` type; a password in it is masked by `--print-config`.',
    example: 'redis://redis:6379/0',
  },
  'buckets[].auth.sigv4.replay_store.key_prefix': {
    text: 'Prefix of the Redis keys, for the `redis` type; routes or gateways that share a Redis database and must not see each other need different prefixes.',
    example: "'uploads:replay:'",
  },
  'buckets[].auth.custom': {
    text: 'Name of a custom authenticator registered when the gateway is embedded (`createApp(config, logger, { authenticators })`, see examples/custom-auth). It handles every request that is not SigV4-signed.',
    example: 'api-key',
    default: 'none',
  },
  'buckets[].auth.options': {
    text: 'Free-form settings handed to the custom authenticator as `route.auth.options`. Keys that look like secrets (token, password, secret, api key …) are masked by `--print-config`.',
    example: '{ header: x-api-key }',
  },
  'buckets[].authz': {
    text: 'Authorization of the route by a policy engine, asked before each upload. Disabled, every authenticated request is allowed. See docs/AUTHZ.md.',
  },
  'buckets[].authz.enabled': {
    text: 'Ask the provider before each upload operation; a denial is `403 AccessDenied`.',
    example: 'true',
  },
  'buckets[].authz.provider': {
    text: '`opa`, `openfga`, or the name of a custom provider registered when the gateway is embedded; required when authorization is enabled.',
    example: 'opa',
  },
  'buckets[].authz.fail_mode': {
    text: 'What happens when the engine fails or does not answer within its timeout: `closed` answers 503, `open` allows the upload and logs a warning.',
    example: 'open',
  },
  'buckets[].authz.opa': {
    text: 'Open Policy Agent: the gateway calls `POST {url}/v1/data/{policy_path}` with the upload as input and accepts `{result: bool}` or `{result: {allow, reason}}`; an undefined result denies.',
  },
  'buckets[].authz.opa.url': {
    text: 'Base URL of the OPA server.',
    example: 'http://opa:8181',
  },
  'buckets[].authz.opa.policy_path': {
    text: 'Slash-separated path of the rule to evaluate, below `/v1/data/`.',
    example: 'mizuchi/upload/allow',
  },
  'buckets[].authz.opa.timeout_ms': {
    text: 'Milliseconds to wait for a decision before `fail_mode` applies.',
    example: '500',
  },
  'buckets[].authz.opa.cache_ttl_seconds': {
    text: 'Seconds a decision is reused for an identical input; 0 disables the cache.',
    example: '60',
  },
  'buckets[].authz.opa.cache_max_entries': {
    text: 'Most decisions kept in the LRU cache.',
    example: '50000',
  },
  'buckets[].authz.openfga': {
    text: 'OpenFGA: a check of `user:<user_claim>` with `relation` on the new object `file:<bucket>/<key>`, chained by contextual tuples to its folders and bucket so that a grant on a folder or the bucket covers keys that do not exist yet.',
  },
  'buckets[].authz.openfga.url': {
    text: 'Base URL of the OpenFGA HTTP API.',
    example: 'http://openfga:8080',
  },
  'buckets[].authz.openfga.store_id': {
    text: 'Id of the OpenFGA store (a 26-character ULID).',
    example: '01JAHWTRB2X3Y4Z5A6B7C8D9EF',
  },
  'buckets[].authz.openfga.model_id': {
    text: 'Id of the authorization model to check against (a ULID); pin it so a model change is deliberate.',
    example: '01JAHWTRB2X3Y4Z5A6B7C8D9EG',
    default: "the store's latest model",
  },
  'buckets[].authz.openfga.api_token': {
    text: 'Bearer token the gateway presents to the OpenFGA API.',
    example: '${MIZUCHI_OPENFGA_TOKEN}',
    default: 'none',
    secret: true,
  },
  'buckets[].authz.openfga.relation': {
    text: 'Relation checked on the object.',
    example: 'writer',
  },
  'buckets[].authz.openfga.user_claim': {
    text: "Principal claim used as the OpenFGA user id; SigV4 principals have no claims, so `sub` is their key's subject.",
    example: 'email',
  },
  'buckets[].authz.openfga.timeout_ms': {
    text: 'Milliseconds to wait for a check before `fail_mode` applies.',
    example: '500',
  },
  'buckets[].authz.openfga.cache_ttl_seconds': {
    text: 'Seconds a check result is reused; 0 disables the cache.',
    example: '60',
  },
  'buckets[].authz.openfga.cache_max_entries': {
    text: 'Most check results kept in the LRU cache.',
    example: '50000',
  },
  'buckets[].authz.options': {
    text: 'Free-form settings handed to a custom provider. Keys that look like secrets (token, password, secret, api key …) are masked by `--print-config`.',
    example: '{ tenant: acme }',
  },
  'buckets[].cors': {
    text: 'CORS for browser uploads. A preflight from a listed origin for PUT or POST with the headers an S3 upload sends is answered before authentication; other requests from a listed origin get `Access-Control-Allow-Origin` and may read ETag and `x-amz-request-id`. Nothing else is relaxed, and without this section no CORS header is sent.',
    default: 'absent',
  },
  'buckets[].cors.allowed_origins': {
    text: 'Origins allowed to upload: `*` or origins such as `https://app.example.com` (scheme, host and port, no path).',
    example: "['https://app.example.com']",
  },
  'buckets[].cors.max_age_seconds': {
    text: 'Seconds browsers may cache a preflight answer.',
    example: '3600',
  },

  // --- metrics, tracing, logging ------------------------------------------------------------
  metrics: {
    text: 'The Prometheus endpoint; docs/METRICS.md lists the metrics. With several workers one scrape returns the sum of all of them.',
  },
  'metrics.enabled': {
    text: 'Serve Prometheus metrics.',
    example: 'false',
  },
  'metrics.path': {
    text: 'HTTP path of the metrics endpoint; no route may live under it when it shares the main port.',
    example: '/prometheus',
  },
  'metrics.port': {
    text: 'Serve metrics on this separate port instead of the main one, so the upload port can be exposed without them; it must differ from the server port.',
    example: '9090',
    default: "the server's port",
  },
  tracing: {
    text: 'OpenTelemetry tracing, exported over OTLP; docs/TRACING.md describes the spans. A slow or dead collector never slows an upload.',
  },
  'tracing.enabled': {
    text: 'Record spans and export them; off, the OpenTelemetry SDK is not even loaded.',
    example: 'true',
  },
  'tracing.service_name': {
    text: 'The `service.name` resource attribute of every span.',
    example: 'uploads-gateway',
  },
  'tracing.otlp': {
    text: 'Where and how spans are exported.',
  },
  'tracing.otlp.endpoint': {
    text: 'URL of the OTLP receiver (an OpenTelemetry Collector, Jaeger or Tempo).',
    example: 'http://otel-collector:4318',
    default: '`http://localhost:4318`, or `http://localhost:4317` with `grpc`',
  },
  'tracing.otlp.protocol': {
    text: 'OTLP transport: protobuf over HTTP, or gRPC.',
    example: 'grpc',
  },
  'tracing.otlp.timeout_seconds': {
    text: 'Seconds one export request may take.',
    example: '5',
  },
  'tracing.otlp.compression': {
    text: 'Compression of export requests.',
    example: 'gzip',
  },
  'tracing.sampling': {
    text: 'Which traces are recorded.',
  },
  'tracing.sampling.strategy': {
    text: "`always` and `never` do what they say, `ratio` samples `ratio` of all traces, and `parent_based` follows the caller's `traceparent` sampled flag and applies `ratio` to new traces.",
    example: 'ratio',
  },
  'tracing.sampling.ratio': {
    text: 'Fraction of traces sampled by the `ratio` and `parent_based` strategies.',
    example: '0.1',
  },
  'tracing.batch': {
    text: 'The bounded export queue: spans beyond it are dropped and counted, never held up.',
  },
  'tracing.batch.max_queue_size': {
    text: 'Spans waiting for export at most; further spans are dropped and counted.',
    example: '4096',
  },
  'tracing.batch.scheduled_delay_millis': {
    text: 'Milliseconds between two exports.',
    example: '1000',
  },
  'tracing.batch.max_export_batch_size': {
    text: 'Spans sent per export request, at most `max_queue_size`.',
    example: '256',
  },
  'tracing.batch.export_timeout_millis': {
    text: 'Milliseconds the exporter may take over one batch before the queue moves on without waiting for it.',
    example: '10000',
  },
  'tracing.resilience': {
    text: 'Retries and a circuit breaker in front of the collector, so a dead collector costs next to nothing.',
  },
  'tracing.resilience.max_attempts': {
    text: 'Tries per batch, the first included.',
    example: '5',
  },
  'tracing.resilience.initial_backoff_millis': {
    text: 'Milliseconds before the first retry, doubled for each further retry with random jitter.',
    example: '500',
  },
  'tracing.resilience.max_backoff_millis': {
    text: 'Longest wait between two retries, in milliseconds.',
    example: '10000',
  },
  'tracing.resilience.failure_threshold': {
    text: 'Consecutive failed batches that open the circuit breaker.',
    example: '5',
  },
  'tracing.resilience.cooldown_seconds': {
    text: 'Seconds the open breaker waits before one trial export decides whether to close it.',
    example: '60',
  },
  'tracing.record_object_keys': {
    text: 'Put object keys on spans. Keys may be personal data, so they are left out unless this is true.',
    example: 'true',
  },
  'tracing.fallback': {
    text: 'What happens to spans while the breaker is open: `none` drops and counts them, `console` writes each span to the log as one line.',
    example: 'console',
  },
  logging: {
    text: 'Structured logs on standard output through pino: one access line per request, `request_id` on every line written while serving it, `trace_id` and `span_id` under an active trace, and credentials redacted.',
  },
  'logging.level': {
    text: "Least severe level written; `verbose` is pino's `trace`. Health and metrics requests log their access line at `debug`.",
    example: 'debug',
  },
  'logging.format': {
    text: '`json` writes one object per line for log shippers; `pretty` writes coloured, human-readable lines for a terminal.',
    example: 'pretty',
  },
};
