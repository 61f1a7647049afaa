/*
 * runtime.c — console (port 0xE9), exit (port 0xF4), printf and a minimal
 * libc for 32-bit kernels. Freestanding and libgcc-free: 64-bit values are
 * printed in decimal by subtracting powers of ten and in hex by shifting,
 * so no __udivdi3/__umoddi3 is ever needed.
 */
#include "mb32.h"

#define PORT_DEBUGCON 0xE9
#define PORT_EXIT     0xF4

unsigned mb_check_failures;
struct mb_entry_state mb_entry_state;

void mb_putc(char c) { outb(PORT_DEBUGCON, (uint8_t)c); }

void mb_puts(const char *s)
{
    while (*s)
        mb_putc(*s++);
}

void mb_exit(int code)
{
    outb(PORT_EXIT, (uint8_t)code);
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* ---- printf: %d %i %u %x %X %p %s %c %%, flags 0 - #, width, l/ll/z ---- */
struct out { char *buf; size_t n, len; bool console; };

static void emit(struct out *o, char c)
{
    if (o->console)
        mb_putc(c);
    else if (o->len + 1 < o->n)
        o->buf[o->len] = c;
    o->len++;
}

/* Digits of v, least significant first, into tmp; returns the count. */
static int digits(uint64_t v, bool hex, bool upper, char *tmp)
{
    const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int k = 0;
    if (hex) {
        do {
            tmp[k++] = dig[v & 0xF];
            v >>= 4;
        } while (v);
        return k;
    }
    /* decimal: count how many times each power of ten fits */
    static const uint64_t pow10[20] = {
        10000000000000000000ull, 1000000000000000000ull, 100000000000000000ull, 10000000000000000ull,
        1000000000000000ull, 100000000000000ull, 10000000000000ull, 1000000000000ull, 100000000000ull,
        10000000000ull, 1000000000ull, 100000000ull, 10000000ull, 1000000ull, 100000ull, 10000ull, 1000ull,
        100ull, 10ull, 1ull,
    };
    char rev[20];
    int n = 0;
    bool started = false;
    for (int i = 0; i < 20; i++) {
        char d = 0;
        while (v >= pow10[i]) {
            v -= pow10[i];
            d++;
        }
        if (d || started || i == 19) {
            rev[n++] = (char)('0' + d);
            started = true;
        }
    }
    while (n)
        tmp[k++] = rev[--n];
    return k;
}

static void emit_num(struct out *o, uint64_t v, bool hex, bool upper, bool neg, int width, bool zero, bool left,
                     bool alt)
{
    char tmp[24];
    int k = digits(v, hex, upper, tmp);
    int len = k + (neg ? 1 : 0) + (alt ? 2 : 0);
    if (!left && !zero)
        for (; width > len; width--)
            emit(o, ' ');
    if (neg)
        emit(o, '-');
    if (alt) {
        emit(o, '0');
        emit(o, upper ? 'X' : 'x');
    }
    if (!left && zero)
        for (; width > len; width--)
            emit(o, '0');
    while (k)
        emit(o, tmp[--k]);
    if (left)
        for (; width > len; width--)
            emit(o, ' ');
}

static int format(struct out *o, const char *f, va_list ap)
{
    for (; *f; f++) {
        if (*f != '%') {
            emit(o, *f);
            continue;
        }
        f++;
        bool zero = false, left = false, alt = false;
        for (;; f++) {
            if (*f == '0') zero = true;
            else if (*f == '-') left = true;
            else if (*f == '#') alt = true;
            else break;
        }
        int width = 0;
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        int lng = 0;                             /* 0 int, 1 long (32-bit), 2 long long */
        while (*f == 'l') { lng++; f++; }
        if (*f == 'z') { lng = 1; f++; }
        switch (*f) {
        case 'd': case 'i': {
            int64_t v = lng >= 2 ? va_arg(ap, int64_t) : lng ? va_arg(ap, long) : va_arg(ap, int);
            emit_num(o, v < 0 ? (uint64_t)-v : (uint64_t)v, false, false, v < 0, width, zero, left, false);
            break;
        }
        case 'u': case 'x': case 'X': {
            uint64_t v = lng >= 2 ? va_arg(ap, uint64_t) : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            bool hex = *f != 'u';
            emit_num(o, v, hex, *f == 'X', false, width, zero, left, alt && hex && v);
            break;
        }
        case 'p':
            emit_num(o, (uint32_t)(uintptr_t)va_arg(ap, void *), true, false, false, width, zero, left, true);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int len = (int)strlen(s);
            if (!left) for (; width > len; width--) emit(o, ' ');
            while (*s) emit(o, *s++);
            if (left) for (; width > len; width--) emit(o, ' ');
            break;
        }
        case 'c':
            emit(o, (char)va_arg(ap, int));
            break;
        case '%':
            emit(o, '%');
            break;
        default:
            emit(o, '%');
            if (*f)
                emit(o, *f);
            else
                f--;
            break;
        }
    }
    return (int)o->len;
}

int mb_printf(const char *fmt, ...)
{
    struct out o = { .console = true };
    va_list ap;
    va_start(ap, fmt);
    int n = format(&o, fmt, ap);
    va_end(ap);
    return n;
}

int mb_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct out o = { .buf = buf, .n = n };
    int r = format(&o, fmt, ap);
    if (n)
        buf[o.len < n ? o.len : n - 1] = 0;
    return r;
}

int mb_snprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = mb_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- libc ---- */
/* REP STOSB / REP MOVSB: a C loop here may be turned back into a call to
 * memset/memcpy by the compiler's loop-idiom pass. */
void *memset(void *d, int c, size_t n)
{
    void *p = d;
    __asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *p = d;
    __asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) :: "memory");
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p < *q ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (uint8_t)*a - (uint8_t)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (uint8_t)*a - (uint8_t)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

const char *strrchr(const char *s, int c)
{
    const char *r = NULL;
    for (; *s; s++)
        if (*s == (char)c)
            r = s;
    return c ? r : s;
}
