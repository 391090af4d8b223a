/* wire.h -- DNS messages on the wire (RFC 1035, EDNS0 RFC 6891): reading a
 * query, writing names with compression, and the small fixed answers
 * (errors, truncated) built straight from the query.
 *
 * Nothing here allocates: the parser fills a struct dns_query from the
 * packet, the writer appends to a caller's buffer. Names are kept in wire
 * form (length-prefixed labels, the root's 0 included), lower-cased. */
#ifndef EP_DNS_WIRE_H
#define EP_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN 12
#define DNS_MAX_NAME 255 /* wire form, the root label included */
#define DNS_OPT_LEN 11   /* an OPT RR without options */

enum dns_type {
    DNS_T_A = 1,
    DNS_T_NS = 2,
    DNS_T_CNAME = 5,
    DNS_T_SOA = 6,
    DNS_T_AAAA = 28,
    DNS_T_SRV = 33,
    DNS_T_OPT = 41,
    DNS_T_TKEY = 249,
    DNS_T_TSIG = 250,
    DNS_T_IXFR = 251,
    DNS_T_AXFR = 252,
    DNS_T_MAILB = 253,
    DNS_T_MAILA = 254,
    DNS_T_ANY = 255,
};

enum dns_class { DNS_C_IN = 1, DNS_C_ANY = 255 };

enum dns_rcode {
    DNS_R_NOERROR = 0,
    DNS_R_FORMERR = 1,
    DNS_R_SERVFAIL = 2,
    DNS_R_NXDOMAIN = 3,
    DNS_R_NOTIMP = 4,
    DNS_R_REFUSED = 5,
    DNS_R_BADVERS = 16, /* extended: 1 in the OPT's upper bits */
};

/* header flag bits (the second 16-bit word) */
#define DNS_F_QR 0x8000
#define DNS_F_AA 0x0400
#define DNS_F_TC 0x0200
#define DNS_F_RD 0x0100
#define DNS_F_CD 0x0010

/* What dns_parse_query found. */
enum dns_parse_result {
    DNS_PARSE_OK,      /* a QUERY with one question: answer it */
    DNS_PARSE_DROP,    /* not worth an answer: shorter than a header, or a response */
    DNS_PARSE_FORMERR, /* malformed: answer FORMERR (dns_write_error) */
    DNS_PARSE_NOTIMP,  /* an opcode other than QUERY: answer NOTIMP */
    DNS_PARSE_BADVERS, /* EDNS version > 0: answer BADVERS (question and OPT echoed) */
};

struct dns_query {
    uint16_t id;
    uint16_t flags; /* as received */
    uint8_t opcode;
    uint8_t qname[DNS_MAX_NAME]; /* lower-cased wire form */
    uint8_t qname_len;           /* bytes, root label included */
    uint8_t qlabels;             /* labels, the root not counted */
    uint16_t qtype, qclass;
    uint16_t question_end; /* offset just past the question in the packet */
    bool has_question;     /* the question parsed (also for FORMERR/NOTIMP from OPT) */
    bool edns;
    bool edns_do; /* DNSSEC OK: copied back */
    uint8_t edns_version;
    uint16_t edns_payload; /* the client's UDP payload size (as sent) */
};

/* Parse a query of len bytes. Never reads outside pkt. Checks: QR clear,
 * opcode QUERY, exactly one question (an uncompressed name, labels of at
 * most 63 bytes, 255 in all), no answer or authority records, additional
 * records well-formed (at most one OPT, owned by the root, its options
 * within its length), nothing after the last record. */
enum dns_parse_result dns_parse_query(const uint8_t *pkt, size_t len, struct dns_query *q);

/* The size of a UDP answer to q: 512 without EDNS, else the client's size
 * (at least 512) capped by ours. */
size_t dns_udp_limit(const struct dns_query *q, size_t our_max);

/* Text "sip.contoso.test" (a trailing dot optional) to lower-cased wire
 * form in out (DNS_MAX_NAME bytes). Returns the length, or 0 when it is not
 * a name (an empty label, a label over 63, over 255 in all). "" and "." are
 * the root (length 1). */
size_t dns_name_from_text(const char *text, uint8_t *out);
/* Wire form to text without the trailing dot ("." for the root); out has
 * at least 256 bytes. Labels are printed as they are (no escaping). */
void dns_name_to_text(const uint8_t *wire, char *out, size_t outlen);
/* Is wire name n (n_len bytes) at or below zone (z_len bytes)? Both lower-case. */
bool dns_name_in_zone(const uint8_t *n, size_t n_len, const uint8_t *z, size_t z_len);

/* ---- writing ---- */

#define DNS_COMP_MAX 64

/* A message under construction in a caller's buffer. Writes past cap set
 * overflow and are dropped; the caller checks it once at the end. */
struct dns_writer {
    uint8_t *buf;
    size_t cap, len;
    bool overflow;
    uint16_t comp[DNS_COMP_MAX]; /* offsets of names (each label) written, for compression */
    size_t n_comp;
};

void dns_writer_init(struct dns_writer *w, uint8_t *buf, size_t cap);
void dns_put_u8(struct dns_writer *w, uint8_t v);
void dns_put_u16(struct dns_writer *w, uint16_t v);
void dns_put_u32(struct dns_writer *w, uint32_t v);
void dns_put_bytes(struct dns_writer *w, const void *p, size_t n);
/* Write a wire name (lower-case), pointing at the longest suffix already in
 * the message (RFC 1035 4.1.4) when compress is set, and remembering where
 * its labels are for later names. */
void dns_put_name(struct dns_writer *w, const uint8_t *name, bool compress);
/* Remember a name already in buf at off (e.g. the question's) as a target. */
void dns_writer_remember(struct dns_writer *w, size_t off);
/* Patch a 16-bit value at off. */
void dns_set_u16(struct dns_writer *w, size_t off, uint16_t v);

/* The header of an answer to q: id, QR, opcode, AA when aa, TC when tc, RD
 * and CD copied, rcode's low 4 bits; counts as given. */
void dns_put_header(struct dns_writer *w, const struct dns_query *q, bool aa, bool tc, int rcode,
                    uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar);
/* An OPT RR: our payload size, rcode's extended bits, version 0, DO copied. */
void dns_put_opt(struct dns_writer *w, const struct dns_query *q, uint16_t payload, int rcode);

/* An answer carrying only rcode (FORMERR, NOTIMP, REFUSED, BADVERS) or only
 * TC=1 (tc set: a slipped or oversized answer): the header, the question as
 * sent when it parsed, an OPT when the query had one. q may be partly
 * filled (FORMERR): only id/flags/opcode are then used. Returns the length
 * (0 when cap is too small). */
size_t dns_write_short(const uint8_t *pkt, const struct dns_query *q, int rcode, bool aa, bool tc,
                       uint16_t payload, uint8_t *out, size_t cap);

#endif
