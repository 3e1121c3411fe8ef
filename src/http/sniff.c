/* sniff.c: a Content-Type from a body's first bytes, for responses whose
 * handler set none (Go's DetectContentType, after the WHATWG MIME Sniffing
 * standard).  It looks at up to 512 bytes and knows the common web types:
 * HTML and XML (after leading whitespace), PDF, PostScript, the image
 * formats browsers show, gzip, zip, rar, wasm, Ogg; text with a BOM; then
 * text/plain for bytes that look like text and application/octet-stream
 * for the rest.  Audio and video containers beyond Ogg are left to the
 * octet-stream answer (Go recognises a few more).
 */
#include "http/http.h"

#define SNIFF_LEN 512

/* A tag that opens an HTML document; it must be followed by a space or
 * '>' (the "tag-terminating byte"), and compares without case. */
static const char *const html_tags[] = {
    "<!DOCTYPE HTML",
    "<HTML",
    "<HEAD",
    "<SCRIPT",
    "<IFRAME",
    "<H1",
    "<DIV",
    "<FONT",
    "<TABLE",
    "<A",
    "<STYLE",
    "<TITLE",
    "<B",
    "<BODY",
    "<BR",
    "<P",
    "<!--",
};

/* An exact prefix and its type. */
static const struct {
    const char *magic;
    size_t len;
    const char *type;
} prefixes[] = {
    {"%PDF-", 5, "application/pdf"},
    {"%!PS-Adobe-", 11, "application/postscript"},
    {"\xFE\xFF", 2, "text/plain; charset=utf-16be"},
    {"\xFF\xFE", 2, "text/plain; charset=utf-16le"},
    {"\xEF\xBB\xBF", 3, "text/plain; charset=utf-8"},
    {"\x00\x00\x01\x00", 4, "image/x-icon"},
    {"\x00\x00\x02\x00", 4, "image/x-icon"},
    {"BM", 2, "image/bmp"},
    {"GIF87a", 6, "image/gif"},
    {"GIF89a", 6, "image/gif"},
    {"\x89PNG\x0D\x0A\x1A\x0A", 8, "image/png"},
    {"\xFF\xD8\xFF", 3, "image/jpeg"},
    {"OggS\x00", 5, "application/ogg"},
    {"\x1F\x8B\x08", 3, "application/x-gzip"},
    {"PK\x03\x04", 4, "application/zip"},
    {"Rar!\x1A\x07\x00", 7, "application/x-rar-compressed"},
    {"Rar!\x1A\x07\x01\x00", 8, "application/x-rar-compressed"},
    {"\x00\x61\x73\x6D", 4, "application/wasm"},
};

static int is_ws(unsigned char c)
{
    return c == '\t' || c == '\n' || c == '\x0C' || c == '\r' || c == ' ';
}

/* Bytes that never occur in text (the standard's "binary data byte"). */
static int is_binary(unsigned char c)
{
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1A) ||
           (c >= 0x1C && c <= 0x1F);
}

static int starts_with_ci(const char *p, size_t len, const char *tag,
                          size_t tlen)
{
    return len >= tlen && uvgo__http_casecmp(p, tlen, tag, tlen);
}

const char *uvgo__http_sniff(const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0;
    if (len > SNIFF_LEN)
        len = SNIFF_LEN;
    while (i < len && is_ws(p[i]))
        i++;
    for (size_t t = 0; t < sizeof html_tags / sizeof html_tags[0]; t++) {
        size_t tl = strlen(html_tags[t]);
        if (starts_with_ci(data + i, len - i, html_tags[t], tl) &&
            len - i > tl && (p[i + tl] == ' ' || p[i + tl] == '>'))
            return "text/html; charset=utf-8";
    }
    if (len - i >= 5 && !memcmp(data + i, "<?xml", 5))
        return "text/xml; charset=utf-8";
    for (size_t t = 0; t < sizeof prefixes / sizeof prefixes[0]; t++)
        if (len >= prefixes[t].len &&
            !memcmp(data, prefixes[t].magic, prefixes[t].len))
            return prefixes[t].type;
    if (len >= 14 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBPVP", 6))
        return "image/webp";
    for (i = 0; i < len; i++)
        if (is_binary(p[i]))
            return "application/octet-stream";
    return "text/plain; charset=utf-8";
}
