/*
 * The throughput bench's S3-like upstream (bench/throughput.bench.ts compiles it with gcc).
 *
 * It answers every request with 200, and a PUT only once it has read the whole body: HTTP/1.1
 * with keep-alive, one thread per connection, Content-Length bodies only (chunked ones get 501).
 * It is meant to cost as little as possible, so that the proxy in front of it is what gets
 * measured (BENCH.md, "Method"):
 *
 * - fast mode: the body is discarded in the kernel with recv(MSG_TRUNC), never copied to user
 *   space, and the ETag is a fixed value;
 * - checksum mode, for any request target containing "/verify/": the body is read and hashed, and
 *   the ETag is its MD5, so a client can check that the proxy carried exactly what it sent.
 *
 * `GET /__sink/stats` answers {"puts":N,"bytes":N,"verified":N}: the PUTs whose body was read
 * to its end, their body bytes, and how many of them were hashed. An `Expect: 100-continue` gets
 * its interim answer, as from S3, so the AWS SDK in the gateway never waits for it.
 *
 *   sink [PORT]     listens on 127.0.0.1:PORT (0 or absent: any free port) and prints
 *                   "listening PORT" once it accepts connections.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX (64 * 1024)
#define HASH_CHUNK (256 * 1024)
/* Any fixed 32-hex-digit value: what a fast-mode PUT answers as its ETag. */
#define FAST_ETAG "\"fa57fa57fa57fa57fa57fa57fa57fa57\""

static uint64_t stat_puts, stat_bytes, stat_verified;

/* ---- MD5 (RFC 1321), only for checksum mode ---- */

typedef struct {
  uint32_t a, b, c, d;
  uint64_t length;
  unsigned char block[64];
  size_t used;
} md5_ctx;

static const uint32_t MD5_K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391};
static const unsigned MD5_S[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                   5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                   4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                   6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_init(md5_ctx *m) {
  m->a = 0x67452301;
  m->b = 0xefcdab89;
  m->c = 0x98badcfe;
  m->d = 0x10325476;
  m->length = 0;
  m->used = 0;
}

static void md5_block(md5_ctx *m, const unsigned char *p) {
  uint32_t w[16];
  for (int i = 0; i < 16; i++) {
    w[i] = (uint32_t)p[i * 4] | (uint32_t)p[i * 4 + 1] << 8 | (uint32_t)p[i * 4 + 2] << 16 |
           (uint32_t)p[i * 4 + 3] << 24;
  }
  uint32_t a = m->a, b = m->b, c = m->c, d = m->d;
  for (int i = 0; i < 64; i++) {
    uint32_t f;
    int g;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) % 16;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) % 16;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) % 16;
    }
    uint32_t t = d;
    d = c;
    c = b;
    uint32_t x = a + f + MD5_K[i] + w[g];
    b = b + ((x << MD5_S[i]) | (x >> (32 - MD5_S[i])));
    a = t;
  }
  m->a += a;
  m->b += b;
  m->c += c;
  m->d += d;
}

static void md5_update(md5_ctx *m, const unsigned char *p, size_t n) {
  m->length += n;
  if (m->used > 0) {
    size_t take = 64 - m->used < n ? 64 - m->used : n;
    memcpy(m->block + m->used, p, take);
    m->used += take;
    p += take;
    n -= take;
    if (m->used < 64) return;
    md5_block(m, m->block);
    m->used = 0;
  }
  for (; n >= 64; p += 64, n -= 64) md5_block(m, p);
  memcpy(m->block, p, n);
  m->used = n;
}

static void md5_hex(md5_ctx *m, char out[33]) {
  uint64_t bits = m->length * 8;
  unsigned char pad[72] = {0x80};
  size_t padding = (m->used < 56 ? 56 : 120) - m->used;
  for (int i = 0; i < 8; i++) pad[padding + i] = (unsigned char)(bits >> (8 * i));
  md5_update(m, pad, padding + 8);
  uint32_t words[4] = {m->a, m->b, m->c, m->d};
  for (int i = 0; i < 16; i++) {
    sprintf(out + 2 * i, "%02x", (words[i / 4] >> (8 * (i % 4))) & 0xff);
  }
}

/* ---- HTTP ---- */

static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t sent = send(fd, p, n, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return -1;
    p += sent;
    n -= (size_t)sent;
  }
  return 0;
}

/* The value of header `name` in the head [start, end), or NULL; `*length` gets its length. */
static const char *header(const char *start, const char *end, const char *name, size_t *length) {
  size_t name_length = strlen(name);
  for (const char *line = start; line < end;) {
    const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
    if (eol == NULL) eol = end;
    if ((size_t)(eol - line) > name_length && line[name_length] == ':' &&
        strncasecmp(line, name, name_length) == 0) {
      const char *value = line + name_length + 1;
      while (value < eol && (*value == ' ' || *value == '\t')) value++;
      const char *value_end = eol;
      while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t')) value_end--;
      *length = (size_t)(value_end - value);
      return value;
    }
    line = eol + 2;
  }
  return NULL;
}

#define SEND_LITERAL(fd, text) send_all(fd, text, sizeof(text) - 1)

static int value_is(const char *value, size_t length, const char *expected) {
  return value != NULL && length == strlen(expected) && strncasecmp(value, expected, length) == 0;
}

static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  char *buf = malloc(HEAD_MAX);
  unsigned char *hash_buf = NULL;
  size_t have = 0;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  for (;;) {
    char *head_end = NULL;
    while ((head_end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
      if (have == HEAD_MAX) {
        SEND_LITERAL(fd, "HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        goto done;
      }
      ssize_t got = recv(fd, buf + have, HEAD_MAX - have, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) goto done;
      have += (size_t)got;
    }
    const char *line_end = memmem(buf, (size_t)(head_end - buf), "\r\n", 2);
    if (line_end == NULL) line_end = head_end;
    const char *headers = line_end + 2;
    const char *headers_end = head_end + 2;
    size_t head_length = (size_t)(head_end - buf) + 4;

    size_t length;
    const char *value = header(headers, headers_end, "transfer-encoding", &length);
    if (value != NULL) {
      SEND_LITERAL(fd, "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      goto done;
    }
    uint64_t body = 0;
    value = header(headers, headers_end, "content-length", &length);
    if (value != NULL) body = strtoull(value, NULL, 10);
    int is_put = strncmp(buf, "PUT ", 4) == 0;
    int is_stats = strncmp(buf, "GET /__sink/stats ", 18) == 0;
    int verify = memmem(buf, (size_t)(line_end - buf), "/verify/", 8) != NULL;
    int http10 = memmem(buf, (size_t)(line_end - buf), " HTTP/1.0", 9) != NULL;
    value = header(headers, headers_end, "connection", &length);
    int close_after = http10 ? !value_is(value, length, "keep-alive")
                             : value_is(value, length, "close");
    value = header(headers, headers_end, "expect", &length);
    if (value_is(value, length, "100-continue") &&
        SEND_LITERAL(fd, "HTTP/1.1 100 Continue\r\n\r\n") < 0) {
      goto done;
    }

    md5_ctx md5;
    md5_init(&md5);
    /* Body bytes that came with the head; anything after them is the next request. */
    size_t buffered = have - head_length;
    size_t taken = buffered < body ? buffered : (size_t)body;
    if (verify) md5_update(&md5, (unsigned char *)buf + head_length, taken);
    memmove(buf, buf + head_length + taken, buffered - taken);
    have = buffered - taken;
    uint64_t remaining = body - taken;
    if (verify && remaining > 0 && hash_buf == NULL) hash_buf = malloc(HASH_CHUNK);
    while (remaining > 0) {
      size_t want = remaining < HASH_CHUNK ? (size_t)remaining : HASH_CHUNK;
      ssize_t got;
      if (verify) {
        got = recv(fd, hash_buf, want, 0);
        if (got > 0) md5_update(&md5, hash_buf, (size_t)got);
      } else {
        /* TCP discards up to `want` bytes in the kernel: nothing is copied into buf. */
        want = remaining < (1u << 30) ? (size_t)remaining : (1u << 30);
        got = recv(fd, buf + have, want, MSG_TRUNC);
      }
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) goto done;
      remaining -= (uint64_t)got;
    }

    char response[512];
    int n;
    if (is_stats) {
      char json[160];
      int json_length = snprintf(
          json, sizeof json, "{\"puts\":%llu,\"bytes\":%llu,\"verified\":%llu}",
          (unsigned long long)__atomic_load_n(&stat_puts, __ATOMIC_SEQ_CST),
          (unsigned long long)__atomic_load_n(&stat_bytes, __ATOMIC_SEQ_CST),
          (unsigned long long)__atomic_load_n(&stat_verified, __ATOMIC_SEQ_CST));
      n = snprintf(response, sizeof response,
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                   "%s\r\n%s",
                   json_length, close_after ? "Connection: close\r\n" : "", json);
    } else {
      char etag[40] = FAST_ETAG;
      if (is_put) {
        if (verify) {
          char hex[33];
          md5_hex(&md5, hex);
          snprintf(etag, sizeof etag, "\"%s\"", hex);
          __atomic_add_fetch(&stat_verified, 1, __ATOMIC_SEQ_CST);
        }
        __atomic_add_fetch(&stat_puts, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&stat_bytes, body, __ATOMIC_SEQ_CST);
      }
      n = snprintf(response, sizeof response,
                   "HTTP/1.1 200 OK\r\nServer: bench-sink\r\nx-amz-request-id: sink\r\n"
                   "%s%s%sContent-Length: 0\r\n%s\r\n",
                   is_put ? "ETag: " : "", is_put ? etag : "", is_put ? "\r\n" : "",
                   close_after ? "Connection: close\r\n" : "");
    }
    if (send_all(fd, response, (size_t)n) < 0 || close_after) goto done;
  }
done:
  free(buf);
  free(hash_buf);
  close(fd);
  return NULL;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET,
                                .sin_port = htons(argc > 1 ? (uint16_t)atoi(argv[1]) : 0),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0 ||
      listen(listener, 1024) < 0) {
    perror("sink: bind/listen");
    return 1;
  }
  socklen_t size = sizeof address;
  getsockname(listener, (struct sockaddr *)&address, &size);
  printf("listening %d\n", ntohs(address.sin_port));
  fflush(stdout);

  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attributes, 256 * 1024);
  for (;;) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
      perror("sink: accept");
      return 1;
    }
    pthread_t thread;
    if (pthread_create(&thread, &attributes, serve, (void *)(intptr_t)fd) != 0) close(fd);
  }
}
