/*
 * numparse.c — number and size syntax (numparse.h).
 */
#include "numparse.h"

static bool digits(const char **p, unsigned base, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    unsigned n = 0;
    for (;; s++, n++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            break;
        if (v > (UINT64_MAX - d) / base)
            return false;                /* overflow */
        v = v * base + d;
    }
    if (n == 0)
        return false;
    *p = s;
    *out = v;
    return true;
}

static bool number_prefix(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (!s)
        return false;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (!digits(&s, 16, out))
            return false;
    } else if (!digits(&s, 10, out)) {
        return false;
    }
    *p = s;
    return true;
}

bool parse_number(const char *s, uint64_t *out)
{
    uint64_t v;
    if (!number_prefix(&s, &v) || *s)
        return false;
    *out = v;
    return true;
}

bool parse_size(const char *s, uint64_t *out)
{
    uint64_t v, mul = 1;
    if (!number_prefix(&s, &v))
        return false;
    switch (*s) {
    case 'K': case 'k': mul = 1ull << 10; s++; break;
    case 'M': case 'm': mul = 1ull << 20; s++; break;
    case 'G': case 'g': mul = 1ull << 30; s++; break;
    case 'T': case 't': mul = 1ull << 40; s++; break;
    default: break;
    }
    if (mul > 1 && s[0] == 'i' && s[1] == 'B')
        s += 2;
    else if (mul > 1 && s[0] == 'B')
        s++;
    if (*s || v > UINT64_MAX / mul)
        return false;
    *out = v * mul;
    return true;
}
