/*
 * Load generator for bench/load.ts in C: the same callers as bench/lib/load-client.ts in `stamp` mode
 * (a sequence number stamped into each frame's first 4 bytes), at a small fraction of the Node
 * client's CPU per frame, so the bench measures the servers rather than the clients. Single-threaded,
 * non-blocking sockets and epoll, a timerfd for the 2 ms send slots; libc only.
 *
 * What it mirrors from load-client.ts: callers connect in batches of 25; callers are spread over 10
 * phase groups 2 ms apart (one 20 ms period), starting 50 ms + phaseOffsetMs after the last connect;
 * late slots are caught up; frames sent in [measureFrom, measureTo) count as sent, and the ones that
 * come back (any time until the tail ends) give a latency; lost = sent - received; a frame returning
 * below the highest seq seen counts as reordered; a connected caller whose socket closes counts as
 * disconnected. One addition: a handshake that has not finished after 10 s counts as failed (the
 * Node client would wait forever).
 *
 * Input (stdin, written by load-client-c.ts): `key value` lines, then `tokens N` and N token lines:
 *   host 127.0.0.1 / port 8080 / hostHeader 127.0.0.1:8080 / path /v1/audio?token= (native: the token is appended) /
 *   transport native|twilio / audio FILE (raw caller audio) / frameBytes 960 / warmupS 1 /
 *   durationS 5 / tailS 1 / phaseOffsetMs 0 / tokens N
 * Output: progress on stderr; `{"phase":"measure-start"}`, `{"phase":"measure-end"}` and finally one
 * JSON result line (the fields of LoadClientResult) on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "loadgen.c masks frames 8 bytes at a time assuming a little-endian CPU"
#endif

#define FRAME_MS 20.0
#define GROUPS 10
#define SLOT_MS (FRAME_MS / GROUPS)
#define BATCH 25
#define HANDSHAKE_TIMEOUT_MS 10000.0
#define TWILIO_SETTLE_MS 300.0
#define MAX_FRAME (64u << 20)
#define MAX_EVENTS 256

enum { ST_CONNECTING, ST_UPGRADING, ST_STARTING, ST_OPEN, ST_CLOSED };

typedef struct {
  int fd;
  int state;
  int settled;
  int open;
  int idx;
  int want_out;
  char sid[64];
  const char *token;
  uint32_t seq;
  size_t audio_pos;
  double *send_times;
  uint8_t *got;
  long last_seq;
  /* handshake timeout, or (twilio, after `start`) the moment the caller counts as connected */
  double deadline;
  uint8_t *rbuf;
  size_t rlen, rcap;
  uint8_t *obuf;
  size_t olen, ooff, ocap;
} Caller;

/* config */
static char host[256] = "127.0.0.1";
static char port[16] = "0";
static char host_header[300] = "127.0.0.1";
static char req_path[1024] = "/v1/audio?token=";
static int twilio = 0;
static char audio_file[4096];
static size_t frame_bytes = 960;
static double warmup_s = 1, duration_s = 5, tail_s = 1, phase_offset_ms = 0;
static char **tokens;
static int n_tokens;

/* state */
static uint8_t *audio;
static size_t audio_len;
static uint32_t total_frames;
static Caller *callers;
static Caller **conn; /* connected callers, in the order they connected */
static int n_conn, failed, disconnected, pending;
static long long sent, received, reordered;
static int64_t *latencies;
static size_t n_lat;
static double measure_from = INFINITY, measure_to = INFINITY;
static int epfd, tfd;
static double timer_armed = -1;
static struct timespec clock_start;
static struct addrinfo *server_addr;
static uint32_t rng = 0x9e3779b9u;

/* scratch buffers: grown at setup or on a rare large frame, never per frame */
static uint8_t *scratch;
static size_t scratch_cap;
static uint8_t *frame_buf;
static char *text_buf;

static void die(const char *msg) {
  fprintf(stderr, "loadgen: %s\n", msg);
  exit(2);
}

static void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (!p) die("out of memory");
  return p;
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q) die("out of memory");
  return q;
}

/* milliseconds since start, like performance.now() */
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)(ts.tv_sec - clock_start.tv_sec) * 1e3 + (double)(ts.tv_nsec - clock_start.tv_nsec) / 1e6;
}

static uint32_t xorshift(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static void ensure_scratch(size_t n) {
  if (n <= scratch_cap) return;
  scratch_cap = n + 1024;
  scratch = xrealloc(scratch, scratch_cap);
}

/* ---- connection bookkeeping ---- */

static void settle(Caller *c, int ok) {
  if (c->settled) return;
  c->settled = 1;
  pending--;
  if (ok) {
    c->open = 1;
    conn[n_conn++] = c;
  } else {
    failed++;
  }
}

static void caller_closed(Caller *c) {
  if (c->state == ST_CLOSED) return;
  if (c->fd >= 0) close(c->fd); /* also leaves the epoll set */
  c->fd = -1;
  c->state = ST_CLOSED;
  if (c->settled && c->open) disconnected++;
  c->open = 0;
  settle(c, 0);
}

static void set_events(Caller *c, int want_out) {
  if (c->want_out == want_out) return;
  c->want_out = want_out;
  struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c };
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void queue_out(Caller *c, const uint8_t *p, size_t n) {
  if (c->ooff > 0 && c->olen + n > c->ocap) {
    memmove(c->obuf, c->obuf + c->ooff, c->olen - c->ooff);
    c->olen -= c->ooff;
    c->ooff = 0;
  }
  if (c->olen + n > c->ocap) {
    c->ocap = (c->olen + n) * 2;
    c->obuf = xrealloc(c->obuf, c->ocap);
  }
  memcpy(c->obuf + c->olen, p, n);
  c->olen += n;
}

/* write now, or queue what would block and flush on EPOLLOUT */
static void conn_write(Caller *c, const uint8_t *p, size_t n) {
  if (c->state == ST_CLOSED) return;
  if (c->olen > c->ooff) {
    queue_out(c, p, n);
    return;
  }
  while (n > 0) {
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      caller_closed(c);
      return;
    }
    p += w;
    n -= (size_t)w;
  }
  if (n > 0) {
    queue_out(c, p, n);
    set_events(c, 1);
  }
}

static void flush_out(Caller *c) {
  while (c->olen > c->ooff) {
    ssize_t w = send(c->fd, c->obuf + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      caller_closed(c);
      return;
    }
    c->ooff += (size_t)w;
  }
  c->olen = c->ooff = 0;
  set_events(c, 0);
}

/* one masked client frame (RFC 6455 5.3), FIN set */
static void ws_send(Caller *c, int opcode, const uint8_t *payload, size_t len) {
  ensure_scratch(len + 14);
  uint8_t *o = scratch;
  size_t h = 0;
  o[h++] = (uint8_t)(0x80 | opcode);
  if (len < 126) {
    o[h++] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    o[h++] = 0x80 | 126;
    o[h++] = (uint8_t)(len >> 8);
    o[h++] = (uint8_t)len;
  } else {
    o[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) o[h++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  uint32_t k = xorshift();
  uint8_t key[4] = { (uint8_t)k, (uint8_t)(k >> 8), (uint8_t)(k >> 16), (uint8_t)(k >> 24) };
  memcpy(o + h, key, 4);
  h += 4;
  uint64_t k64 = (uint64_t)k | (uint64_t)k << 32; /* the key bytes in order, twice (little-endian) */
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, payload + i, 8);
    w ^= k64;
    memcpy(o + h + i, &w, 8);
  }
  for (; i < len; i++) o[h + i] = payload[i] ^ key[i & 3];
  conn_write(c, o, h + len);
}

static void ws_send_text(Caller *c, const char *s, size_t n) {
  ws_send(c, 1, (const uint8_t *)s, n);
}

/* ---- base64 ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static int8_t B64_REV[256];

static size_t b64_encode(const uint8_t *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = B64[v >> 18];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = B64[(v >> 6) & 63];
    out[o++] = B64[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = B64[v >> 18];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  return o;
}

/*
 * The first (up to) 4 bytes of a base64 string and its decoded length; like Buffer.from(s, 'base64'),
 * characters outside the alphabet are skipped.
 */
static size_t b64_head(const uint8_t *s, size_t n, uint8_t head[4]) {
  uint32_t acc = 0;
  int bits = 0;
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    int8_t v = B64_REV[s[i]];
    if (v < 0) continue;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out < 4) head[out] = (uint8_t)(acc >> bits);
      out++;
    }
  }
  return out;
}

/* ---- receiving ---- */

static void on_frame(Caller *c, const uint8_t *p, size_t len, double now) {
  if (len < 4) return;
  uint32_t seq = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  if (seq >= total_frames || c->got[seq] || c->send_times[seq] == 0) return;
  c->got[seq] = 1;
  if ((long)seq < c->last_seq) reordered++;
  c->last_seq = seq;
  double t = c->send_times[seq];
  if (t >= measure_from && t < measure_to) {
    received++;
    latencies[n_lat++] = llround((now - t) * 1000);
  }
}

static void on_text(Caller *c, const uint8_t *p, size_t len, double now) {
  if (!twilio) {
    if (memmem(p, len, "\"session.started\"", 17)) settle(c, 1);
    return;
  }
  static const char MEDIA[] = "{\"event\":\"media\"";
  if (len < sizeof MEDIA - 1 || memcmp(p, MEDIA, sizeof MEDIA - 1) != 0) return;
  const uint8_t *q = memmem(p, len, "\"payload\":\"", 11);
  if (!q) return;
  q += 11;
  const uint8_t *e = memchr(q, '"', len - (size_t)(q - p));
  if (!e) return;
  uint8_t head[4];
  size_t n = b64_head(q, (size_t)(e - q), head);
  on_frame(c, head, n, now);
}

/* parse complete frames out of the receive buffer; returns 0 if the connection closed */
static int parse_frames(Caller *c, double now) {
  size_t pos = 0;
  while (c->state != ST_CLOSED && c->rlen - pos >= 2) {
    const uint8_t *b = c->rbuf + pos;
    size_t avail = c->rlen - pos;
    int fin = b[0] & 0x80, opcode = b[0] & 0x0f, masked = b[1] & 0x80;
    uint64_t len = b[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = (uint64_t)b[2] << 8 | b[3];
      h = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | b[2 + i];
      h = 10;
    }
    if (masked) h += 4;
    if (len > MAX_FRAME) {
      fprintf(stderr, "loadgen: caller %d: a %llu-byte frame, closing\n", c->idx, (unsigned long long)len);
      caller_closed(c);
      return 0;
    }
    size_t total = h + (size_t)len;
    if (avail < total) {
      if (total > c->rcap) {
        /* a frame larger than the buffer: make room for it (moved to the start below) */
        memmove(c->rbuf, b, avail);
        c->rlen = avail;
        pos = 0;
        c->rcap = total;
        c->rbuf = xrealloc(c->rbuf, c->rcap);
        return 1;
      }
      break;
    }
    uint8_t *payload = c->rbuf + pos + h;
    if (masked) {
      const uint8_t *key = payload - 4;
      for (size_t i = 0; i < len; i++) payload[i] ^= key[i & 3];
    }
    if (opcode == 0x8) {
      caller_closed(c);
      return 0;
    } else if (opcode == 0x9) {
      ws_send(c, 0xA, payload, (size_t)len);
    } else if (fin && opcode == 0x2) {
      on_frame(c, payload, (size_t)len, now);
    } else if (fin && opcode == 0x1) {
      on_text(c, payload, (size_t)len, now);
    }
    /* fragments (non-FIN frames and continuations) and pongs are not used by the servers: skipped */
    pos += total;
  }
  if (pos > 0) {
    memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
    c->rlen -= pos;
  }
  return c->state != ST_CLOSED;
}

static void send_start(Caller *c, double now) {
  if (!twilio) {
    static const char START[] = "{\"type\":\"session.start\"}";
    ws_send_text(c, START, sizeof START - 1);
    return;
  }
  static const char CONNECTED[] = "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}";
  ws_send_text(c, CONNECTED, sizeof CONNECTED - 1);
  /* the token, JSON-escaped (a JWT never needs it, but a test token might) */
  size_t tl = strlen(c->token);
  char *tok = xmalloc(tl * 6 + 1);
  size_t o = 0;
  for (size_t i = 0; i < tl; i++) {
    unsigned char ch = (unsigned char)c->token[i];
    if (ch == '"' || ch == '\\') {
      tok[o++] = '\\';
      tok[o++] = (char)ch;
    } else if (ch < 0x20) {
      o += (size_t)sprintf(tok + o, "\\u%04x", ch);
    } else {
      tok[o++] = (char)ch;
    }
  }
  tok[o] = 0;
  size_t cap = o + 2 * strlen(c->sid) + 512;
  char *msg = xmalloc(cap);
  int n = snprintf(msg, cap,
                   "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"streamSid\":\"%s\",\"start\":{\"streamSid\":\"%s\","
                   "\"accountSid\":\"ACbench\",\"callSid\":\"CA%s\",\"tracks\":[\"inbound\"],\"customParameters\":{\"token\":\"%s\"},"
                   "\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1}}}",
                   c->sid, c->sid, c->sid, tok);
  ws_send_text(c, msg, (size_t)n);
  free(tok);
  free(msg);
  /* Twilio gives no acknowledgement: connected if still open 300 ms later, as load-client.ts */
  c->deadline = now + TWILIO_SETTLE_MS;
}

static void on_readable(Caller *c) {
  for (;;) {
    if (c->rlen == c->rcap) {
      c->rcap *= 2;
      c->rbuf = xrealloc(c->rbuf, c->rcap);
    }
    size_t space = c->rcap - c->rlen;
    ssize_t r = recv(c->fd, c->rbuf + c->rlen, space, 0);
    if (r == 0) {
      caller_closed(c);
      return;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) caller_closed(c);
      return;
    }
    double now = now_ms(); /* the frames in these bytes arrived now, whatever comes after */
    c->rlen += (size_t)r;
    if (c->state == ST_UPGRADING) {
      uint8_t *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
      if (!end) {
        if (c->rlen > 16384) caller_closed(c);
        continue;
      }
      if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.1 101", 12) != 0) {
        caller_closed(c); /* the server refused the upgrade (e.g. 401 for a bad token) */
        return;
      }
      size_t hl = (size_t)(end - c->rbuf) + 4;
      memmove(c->rbuf, c->rbuf + hl, c->rlen - hl);
      c->rlen -= hl;
      c->state = ST_STARTING;
      c->deadline = now + HANDSHAKE_TIMEOUT_MS;
      send_start(c, now);
      if (c->state == ST_CLOSED) return;
    }
    if (!parse_frames(c, now)) return;
    if ((size_t)r < space) return; /* drained; level-triggered epoll reports the next bytes */
  }
}

static void on_connected(Caller *c) {
  int err = 0;
  socklen_t el = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
    caller_closed(c);
    return;
  }
  c->state = ST_UPGRADING;
  size_t cap = strlen(req_path) + strlen(c->token) + strlen(host_header) + 256;
  char *req = xmalloc(cap);
  int n = snprintf(req, cap,
                   "GET %s%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   req_path, twilio ? "" : c->token, host_header);
  set_events(c, 0);
  conn_write(c, (const uint8_t *)req, (size_t)n);
  free(req);
}

static void start_connect(Caller *c, double now) {
  c->deadline = now + HANDSHAKE_TIMEOUT_MS;
  c->fd = socket(server_addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    perror("loadgen: socket");
    c->state = ST_CONNECTING;
    caller_closed(c);
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->state = ST_CONNECTING;
  c->want_out = 1;
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
  if (connect(c->fd, server_addr->ai_addr, server_addr->ai_addrlen) < 0 && errno != EINPROGRESS) caller_closed(c);
}

/* ---- the event loop ---- */

static void arm_timer(double at_ms) {
  if (at_ms == timer_armed) return;
  timer_armed = at_ms;
  struct itimerspec its = { 0 };
  if (isinf(at_ms)) {
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL); /* disarmed */
    return;
  }
  if (at_ms < 0) at_ms = 0;
  double s = floor(at_ms / 1e3);
  long long sec = clock_start.tv_sec + (long long)s;
  long long nsec = clock_start.tv_nsec + (long long)((at_ms - s * 1e3) * 1e6);
  while (nsec >= 1000000000LL) {
    sec++;
    nsec -= 1000000000LL;
  }
  its.it_value.tv_sec = (time_t)sec;
  its.it_value.tv_nsec = (long)nsec;
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* wait for socket events or the deadline (absolute, ms since start), and handle what came */
static void poll_until(double deadline) {
  static struct epoll_event evs[MAX_EVENTS];
  arm_timer(deadline);
  int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
  if (n < 0) {
    if (errno == EINTR) return;
    die("epoll_wait");
  }
  for (int i = 0; i < n; i++) {
    Caller *c = evs[i].data.ptr;
    if (c == NULL) {
      uint64_t x;
      if (read(tfd, &x, sizeof x) < 0) { /* nothing: the timer was re-armed meanwhile */ }
      timer_armed = -1;
      continue;
    }
    if (c->state == ST_CLOSED) continue;
    uint32_t e = evs[i].events;
    if (c->state == ST_CONNECTING) {
      if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
      continue;
    }
    if (e & EPOLLOUT) flush_out(c);
    if (c->state != ST_CLOSED && (e & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(c);
  }
}

static void send_frame(Caller *c, double now) {
  if (!c->open || c->seq >= total_frames) return;
  if (c->audio_pos + frame_bytes > audio_len) c->audio_pos = 0;
  uint8_t *frame = frame_buf;
  memcpy(frame, audio + c->audio_pos, frame_bytes);
  c->audio_pos += frame_bytes;
  uint32_t s = c->seq;
  frame[0] = (uint8_t)s;
  frame[1] = (uint8_t)(s >> 8);
  frame[2] = (uint8_t)(s >> 16);
  frame[3] = (uint8_t)(s >> 24);
  c->send_times[s] = now;
  if (now >= measure_from && now < measure_to) sent++;
  c->seq++;
  if (!twilio) {
    ws_send(c, 2, frame, frame_bytes);
    return;
  }
  unsigned long long q = c->seq;
  int n = sprintf(text_buf,
                  "{\"event\":\"media\",\"sequenceNumber\":\"%llu\",\"streamSid\":\"%s\",\"media\":{\"track\":\"inbound\","
                  "\"chunk\":\"%llu\",\"timestamp\":\"%llu\",\"payload\":\"",
                  q + 1, c->sid, q, q * 20);
  n += (int)b64_encode(frame, frame_bytes, text_buf + n);
  memcpy(text_buf + n, "\"}}", 3);
  n += 3;
  ws_send_text(c, text_buf, (size_t)n);
}

/* ---- input ---- */

static void read_config(void) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (n == 0) continue;
    char *sp = strchr(line, ' ');
    const char *v = sp ? sp + 1 : "";
    if (sp) *sp = 0;
    if (!strcmp(line, "host")) snprintf(host, sizeof host, "%s", v);
    else if (!strcmp(line, "port")) snprintf(port, sizeof port, "%s", v);
    else if (!strcmp(line, "hostHeader")) snprintf(host_header, sizeof host_header, "%s", v);
    else if (!strcmp(line, "path")) snprintf(req_path, sizeof req_path, "%s", v);
    else if (!strcmp(line, "transport")) twilio = !strcmp(v, "twilio");
    else if (!strcmp(line, "audio")) snprintf(audio_file, sizeof audio_file, "%s", v);
    else if (!strcmp(line, "frameBytes")) frame_bytes = (size_t)strtoul(v, NULL, 10);
    else if (!strcmp(line, "warmupS")) warmup_s = strtod(v, NULL);
    else if (!strcmp(line, "durationS")) duration_s = strtod(v, NULL);
    else if (!strcmp(line, "tailS")) tail_s = strtod(v, NULL);
    else if (!strcmp(line, "phaseOffsetMs")) phase_offset_ms = strtod(v, NULL);
    else if (!strcmp(line, "tokens")) {
      n_tokens = atoi(v);
      tokens = xmalloc(sizeof(char *) * (size_t)(n_tokens > 0 ? n_tokens : 1));
      for (int i = 0; i < n_tokens; i++) {
        ssize_t m = getline(&line, &cap, stdin);
        if (m <= 0) die("fewer token lines than `tokens N` said");
        while (m > 0 && (line[m - 1] == '\n' || line[m - 1] == '\r')) line[--m] = 0;
        tokens[i] = strdup(line);
      }
    } else {
      fprintf(stderr, "loadgen: unknown config key %s\n", line);
      exit(2);
    }
  }
  free(line);
  if (frame_bytes < 4) die("frameBytes must be at least 4");
  if (!audio_file[0]) die("no audio file given");
}

static void load_audio(void) {
  FILE *f = fopen(audio_file, "rb");
  if (!f) {
    perror(audio_file);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (sz < (long)frame_bytes) die("the audio file is shorter than one frame");
  audio_len = (size_t)sz;
  audio = xmalloc(audio_len);
  if (fread(audio, 1, audio_len, f) != audio_len) die("cannot read the audio file");
  fclose(f);
}

int main(void) {
  clock_gettime(CLOCK_MONOTONIC, &clock_start);
  signal(SIGPIPE, SIG_IGN);
  memset(B64_REV, -1, sizeof B64_REV);
  for (int i = 0; i < 64; i++) B64_REV[(unsigned char)B64[i]] = (int8_t)i;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  read_config();
  load_audio();
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
  int gai = getaddrinfo(host, port, &hints, &server_addr);
  if (gai != 0) {
    fprintf(stderr, "loadgen: %s:%s: %s\n", host, port, gai_strerror(gai));
    return 2;
  }

  total_frames = (uint32_t)ceil(((warmup_s + duration_s) * 1000) / FRAME_MS) + 50;
  int n = n_tokens;
  callers = xmalloc(sizeof(Caller) * (size_t)(n > 0 ? n : 1));
  conn = xmalloc(sizeof(Caller *) * (size_t)(n > 0 ? n : 1));
  latencies = xmalloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1) * total_frames);
  frame_buf = xmalloc(frame_bytes);
  text_buf = xmalloc(frame_bytes * 2 + 512);
  ensure_scratch(frame_bytes * 2 + 1024);
  size_t n_audio_frames = audio_len / frame_bytes;
  for (int i = 0; i < n; i++) {
    Caller *c = &callers[i];
    c->fd = -1;
    c->idx = i;
    c->token = tokens[i];
    snprintf(c->sid, sizeof c->sid, "MZbench%dx%d", (int)getpid(), i);
    c->audio_pos = ((size_t)i * 7919 % n_audio_frames) * frame_bytes;
    c->send_times = xmalloc(sizeof(double) * total_frames);
    c->got = xmalloc(total_frames);
    c->last_seq = -1;
    c->rcap = 16384;
    c->rbuf = xmalloc(c->rcap);
    c->ocap = 4096;
    c->obuf = xmalloc(c->ocap);
  }

  epfd = epoll_create1(EPOLL_CLOEXEC);
  tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (epfd < 0 || tfd < 0) die("epoll/timerfd");
  struct epoll_event tev = { .events = EPOLLIN, .data.ptr = NULL };
  epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);

  /* connect in batches so the handshake storm does not distort the first measurements */
  for (int i = 0; i < n; i += BATCH) {
    int end = i + BATCH < n ? i + BATCH : n;
    pending = end - i;
    double now = now_ms();
    for (int k = i; k < end; k++) start_connect(&callers[k], now);
    while (pending > 0) {
      double next = INFINITY;
      for (int k = i; k < end; k++)
        if (!callers[k].settled && callers[k].deadline < next) next = callers[k].deadline;
      poll_until(next);
      now = now_ms();
      for (int k = i; k < end; k++) {
        Caller *c = &callers[k];
        if (c->settled || c->deadline > now) continue;
        if (twilio && c->state == ST_STARTING) settle(c, 1);
        else caller_closed(c);
      }
    }
  }
  fprintf(stderr, "client %d: %d connected, %d failed\n", (int)getpid(), n_conn, failed);

  double t0 = now_ms() + 50 + phase_offset_ms;
  measure_from = t0 + warmup_s * 1000;
  measure_to = measure_from + duration_s * 1000;
  double end_at = measure_to;
  long tick = 0;
  int announced = 0;
  for (;;) {
    double now = now_ms();
    int done = 0;
    /* send every group whose 2 ms slot has come (catches up if the timer fired late) */
    while (t0 + (double)tick * SLOT_MS <= now) {
      double due = t0 + (double)tick * SLOT_MS;
      if (due >= end_at) {
        done = 1;
        break;
      }
      for (int k = (int)(tick % GROUPS); k < n_conn; k += GROUPS) send_frame(conn[k], now_ms());
      tick++;
    }
    if (done) break;
    if (!announced && now >= measure_from) {
      announced = 1;
      fputs("{\"phase\":\"measure-start\"}\n", stdout);
      fflush(stdout);
    }
    poll_until(t0 + (double)tick * SLOT_MS);
  }
  fputs("{\"phase\":\"measure-end\"}\n", stdout);
  fflush(stdout);
  double tail_end = now_ms() + tail_s * 1000;
  while (now_ms() < tail_end) poll_until(tail_end);

  for (int i = 0; i < n; i++) {
    callers[i].open = 0;
    if (callers[i].fd >= 0) close(callers[i].fd);
    callers[i].fd = -1;
  }
  static char outbuf[1 << 16];
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
  printf("{\"sessions\":%d,\"connected\":%d,\"failed\":%d,\"sent\":%lld,\"received\":%lld,\"lost\":%lld,\"latenciesUs\":[",
         n, n_conn, failed, sent, received, sent - received);
  for (size_t i = 0; i < n_lat; i++) printf(i ? ",%lld" : "%lld", (long long)latencies[i]);
  printf("],\"reordered\":%lld,\"disconnected\":%d,\"unidentified\":0}\n", reordered, disconnected);
  fflush(stdout);
  return 0;
}
