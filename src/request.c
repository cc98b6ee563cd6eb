/*
 * request: parsing of the FastCGI parameters and body into struct request.
 *
 * The path is taken from REQUEST_URI as the client sent it (not nginx's
 * normalised DOCUMENT_URI) so that nginx and lighttpd give the worker the
 * same input; it is split into segments first and each segment is then
 * percent-decoded, so an encoded '/' stays data and "%2e%2e" is caught as "..".
 */
#include "request.h"
#include "app.h"
#include "config.h"
#include "log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

const char *const http_method_names[HTTP__MAX] = {"GET",   "HEAD",   "POST",    "PUT",
						  "PATCH", "DELETE", "OPTIONS", "OTHER"};

/* Arena block: requests allocate small pieces; all are freed at once. */
struct request_block {
	struct request_block *next;
	size_t used, cap;
	max_align_t data[];
};

#define REQUEST_BLOCK_SIZE 8192

void *request_alloc(struct request *req, size_t size)
{
	struct request_block *b = req->blocks;

	size = (size + 15) & ~(size_t)15;
	if (b == NULL || b->cap - b->used < size) {
		size_t cap = size > REQUEST_BLOCK_SIZE ? size : REQUEST_BLOCK_SIZE;
		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = req->blocks;
		req->blocks = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

char *request_strdup(struct request *req, const char *s)
{
	size_t n = strlen(s);
	char *p = request_alloc(req, n + 1);

	if (p != NULL)
		memcpy(p, s, n + 1);
	return p;
}

void request_free(struct request *req)
{
	while (req->blocks != NULL) {
		struct request_block *next = req->blocks->next;
		free(req->blocks);
		req->blocks = next;
	}
	free(req->body);
	memset(req, 0, sizeof(*req));
}

static int request_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *request_decode(struct request *req, const char *src, size_t len, bool plus)
{
	char *out = request_alloc(req, len + 1);
	size_t n = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		if (c == '%') {
			if (i + 2 >= len)
				return NULL;
			int hi = request_hex((unsigned char)src[i + 1]);
			int lo = request_hex((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return NULL;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus) {
			c = ' ';
		}
		if (c == '\0')
			return NULL;
		out[n++] = c;
	}
	out[n] = '\0';
	return out;
}

void request_uuid(char out[37])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		/* getrandom on Linux does not fail for 16 bytes once seeded */
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)rand();
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

/* A client-supplied request id we are willing to echo. */
static bool request_id_ok(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++)
		if (!(isalnum((unsigned char)id[n]) || strchr("-_.:", id[n])))
			return false;
	return n >= 1 && n <= 64;
}

const char *request_param_env(const struct request *req, const char *name)
{
	size_t n = strlen(name);

	for (char **e = req->env; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

const char *request_header(const struct request *req, const char *name)
{
	char cgi[128] = "HTTP_";
	size_t n = 5;

	for (; *name && n < sizeof(cgi) - 1; name++)
		cgi[n++] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
	cgi[n] = '\0';
	if (strcmp(cgi, "HTTP_CONTENT_TYPE") == 0 || strcmp(cgi, "HTTP_CONTENT_LENGTH") == 0)
		return request_param_env(req, cgi + 5);
	return request_param_env(req, cgi);
}

static bool request_cidr_match(const struct config_cidr *c, const char *ip)
{
	unsigned char a[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	if (family != c->family || inet_pton(family, ip, a) != 1)
		return false;
	int bits = c->prefix, i = 0;
	for (; bits >= 8; bits -= 8, i++)
		if (a[i] != c->addr[i])
			return false;
	if (bits == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - bits));
	return (a[i] & mask) == (c->addr[i] & mask);
}

static bool request_trusted(const struct config *cfg, const char *ip)
{
	for (int i = 0; i < cfg->trusted_proxy_count; i++)
		if (request_cidr_match(&cfg->trusted_proxies[i], ip))
			return true;
	return false;
}

/*
 * The client address: REMOTE_ADDR, unless that peer is a trusted proxy; then
 * the right-most X-Forwarded-For entry that is not itself a trusted proxy.
 */
static void request_client(struct request *req, const struct config *cfg)
{
	const char *remote = request_param_env(req, "REMOTE_ADDR");
	const char *xff = request_header(req, "X-Forwarded-For");

	snprintf(req->client_ip, sizeof(req->client_ip), "%s", remote ? remote : "unknown");
	if (remote == NULL || xff == NULL || !request_trusted(cfg, remote))
		return;
	char list[1024];
	snprintf(list, sizeof(list), "%s", xff);
	for (;;) {
		char *comma = strrchr(list, ',');
		char *item = comma ? comma + 1 : list;
		while (*item == ' ')
			item++;
		size_t n = strlen(item);
		while (n > 0 && item[n - 1] == ' ')
			item[--n] = '\0';
		unsigned char tmp[16];
		if (inet_pton(strchr(item, ':') ? AF_INET6 : AF_INET, item, tmp) != 1)
			return; /* garbage: keep the last trustworthy address */
		snprintf(req->client_ip, sizeof(req->client_ip), "%s", item);
		if (!request_trusted(cfg, item) || comma == NULL)
			return;
		*comma = '\0';
	}
}

/*
 * httpoxy: a client's "Proxy:" header arrives as HTTP_PROXY unless the front
 * end drops it (both shipped configurations do). Nothing here reads it, but
 * a CGI-style library might take it for a proxy setting: the request's log
 * line says so, and the operator is told once per worker how to fix it.
 */
static void request_check_httpoxy(struct request *req)
{
	static bool warned;
	const char *proxy = request_param_env(req, "HTTP_PROXY");

	req->httpoxy = proxy != NULL && *proxy != '\0';
	if (warned || !req->httpoxy)
		return;
	warned = true;
	log_msg(LOG_WARN, "httpoxy",
		"the front end passes the client's Proxy header as HTTP_PROXY (ignored here): "
		"add fastcgi_param HTTP_PROXY \"\"; as in fcgi-conf/pixelcraft-fastcgi.conf");
}

static enum http_method request_method(const char *m)
{
	for (int i = 0; i < HTTP_OTHER; i++)
		if (strcmp(m, http_method_names[i]) == 0)
			return (enum http_method)i;
	return HTTP_OTHER;
}

int request_parse(struct request *req, struct app *app, char **env)
{
	const char *uri, *id;

	req->app = app;
	req->env = env;
	const char *method = request_param_env(req, "REQUEST_METHOD");
	/* copied: the access log is written after FCGX_Finish_r frees the params */
	req->method_name = request_strdup(req, method ? method : "GET");
	if (req->method_name == NULL)
		return 500;
	req->method = request_method(req->method_name);

	id = request_header(req, "X-Request-ID");
	if (id == NULL || !request_id_ok(id))
		id = request_header(req, "X-Correlation-ID");
	if (id != NULL && request_id_ok(id))
		snprintf(req->id, sizeof(req->id), "%s", id);
	else
		request_uuid(req->id);
	request_client(req, app->cfg);
	/* only the internal nginx listener sets this parameter (clients cannot:
	 * their headers arrive as HTTP_*) */
	const char *internal = request_param_env(req, "PIXELCRAFT_INTERNAL");
	req->internal = internal != NULL && strcmp(internal, "1") == 0;
	request_check_httpoxy(req);

	uri = request_param_env(req, "REQUEST_URI");
	if (uri == NULL || uri[0] != '/') {
		req->raw_path = "";
		req->query = "";
		return 400;
	}
	const char *q = strchr(uri, '?');
	size_t plen = q ? (size_t)(q - uri) : strlen(uri);
	req->query = q ? q + 1 : "";
	char *raw = request_alloc(req, plen + 1);
	if (raw == NULL)
		return 500;
	memcpy(raw, uri, plen);
	req->raw_path = raw;

	/* split on '/', then decode each segment; one trailing slash is ignored */
	const char *p = uri + 1, *end = uri + plen;
	if (end > uri + 1 && end[-1] == '/')
		end--;
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *seg_end = slash ? slash : end;
		if (req->nsegs == REQUEST_MAX_SEGS)
			return 404;
		char *seg = request_decode(req, p, (size_t)(seg_end - p), false);
		if (seg == NULL)
			return 400;
		if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
			return 400;
		req->segs[req->nsegs++] = seg;
		p = seg_end + 1;
	}
	return 0;
}

int request_read_body(struct request *req, size_t max, int (*read)(void *src, char *buf, int n),
		      void *src, const char **why)
{
	const char *cl = request_param_env(req, "CONTENT_LENGTH");
	char drain[4096];
	size_t expect = 0;
	bool have_cl = cl != NULL && *cl != '\0';

	if (have_cl) {
		char *endp;
		for (const char *c = cl; *c; c++)
			if (!isdigit((unsigned char)*c)) {
				*why = "Content-Length is not a number";
				return 400;
			}
		unsigned long long v = strtoull(cl, &endp, 10);
		if (v > max) {
			/* drain a bounded amount so the web server sees a clean end */
			size_t left = v > 4 * (unsigned long long)max ? 4 * max : (size_t)v;
			while (left > 0) {
				int got = read(src, drain, left > sizeof(drain) ? (int)sizeof(drain)
										: (int)left);
				if (got <= 0)
					break;
				left -= (size_t)got;
			}
			*why = "Request body too large";
			return 413;
		}
		expect = (size_t)v;
	}
	/* without CONTENT_LENGTH a body is unusual (nginx and lighttpd send it):
	 * look for data before allocating room for MAX_BODY_BYTES */
	size_t cap = have_cl ? expect : 0, len = 0;
	if (!have_cl) {
		int got = read(src, drain, sizeof(drain));
		if (got <= 0)
			return 0;
		cap = max;
		if ((size_t)got > cap) {
			while (read(src, drain, sizeof(drain)) > 0)
				;
			*why = "Request body too large";
			return 413;
		}
		len = (size_t)got;
	}
	req->body = malloc(cap + 1);
	if (req->body == NULL) {
		*why = "out of memory";
		return 500;
	}
	memcpy(req->body, drain, len);
	while (len < cap) {
		int got = read(src, req->body + len, (int)(cap - len));
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	req->body[len] = '\0';
	req->body_len = len;
	if (have_cl && len < expect) {
		*why = "Request body shorter than Content-Length";
		return 400;
	}
	/* anything after the announced length (or past max) is an error */
	int extra = read(src, drain, sizeof(drain));
	if (extra > 0) {
		while (read(src, drain, sizeof(drain)) > 0)
			;
		*why = have_cl ? "Request body longer than Content-Length"
			       : "Request body too large";
		return have_cl ? 400 : 413;
	}
	return 0;
}

int request_query(struct request *req, const char *name, const char **value)
{
	size_t nlen = strlen(name);
	const char *p = req->query;
	int found = 0;

	while (*p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		char *key = request_decode(req, p, klen, true);
		if (key == NULL)
			return -1;
		if (strlen(key) == nlen && memcmp(key, name, nlen) == 0) {
			if (found)
				return -1; /* the same parameter twice is ambiguous */
			const char *v = eq ? eq + 1 : p + len;
			*value = request_decode(req, v, (size_t)(p + len - v), true);
			if (*value == NULL)
				return -1;
			found = 1;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return found;
}

const char *request_path_param(const struct request *req, int i)
{
	return i < req->nparams ? req->params[i] : NULL;
}
