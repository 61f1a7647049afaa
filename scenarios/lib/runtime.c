/*
 * runtime.c — console, printf, exit and a minimal libc for payloads.
 * Freestanding: no host library, no floating point.
 */
#include "hvsim.h"

#define PORT_DEBUGCON 0xE9
#define PORT_EXIT     0xF4
#define PORT_COM1     0x3F8

unsigned hv_check_failures;

void hv_putc(char c) { outb(PORT_DEBUGCON, (uint8_t)c); }

void hv_puts(const char *s)
{
    while (*s)
        hv_putc(*s++);
}

void hv_serial_puts(const char *s)
{
    static bool init;
    if (!init) {
        outb(PORT_COM1 + 3, 0x80);      /* DLAB */
        outb(PORT_COM1 + 0, 1);         /* 115200 baud */
        outb(PORT_COM1 + 1, 0);
        outb(PORT_COM1 + 3, 0x03);      /* 8N1 */
        init = true;
    }
    while (*s) {
        while (!(inb(PORT_COM1 + 5) & 0x20))
            ;
        outb(PORT_COM1, (uint8_t)*s++);
    }
}

void hv_exit(int code)
{
    outb(PORT_EXIT, (uint8_t)code);
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* ---- printf ---- */
struct out { char *buf; size_t n, len; bool console; };

static void emit(struct out *o, char c)
{
    if (o->console)
        hv_putc(c);
    else if (o->len + 1 < o->n)
        o->buf[o->len] = c;
    o->len++;
}

static void emit_num(struct out *o, uint64_t v, unsigned base, bool upper, bool neg, int width, bool zero,
                     bool left, bool alt)
{
    char tmp[24];
    int k = 0;
    const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        tmp[k++] = dig[v % base];
        v /= base;
    } while (v);
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
        int lng = 0;
        while (*f == 'l') { lng++; f++; }
        if (*f == 'z') { lng = 2; f++; }
        switch (*f) {
        case 'd': case 'i': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            emit_num(o, v < 0 ? (uint64_t)-v : (uint64_t)v, 10, false, v < 0, width, zero, left, false);
            break;
        }
        case 'u': case 'x': case 'X': {
            uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            bool hex = *f != 'u';
            emit_num(o, v, hex ? 16 : 10, *f == 'X', false, width, zero, left, alt && hex && v);
            break;
        }
        case 'p':
            emit_num(o, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, false, false, width, zero, left, true);
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

int hv_printf(const char *fmt, ...)
{
    struct out o = { 0, 0, 0, true };
    va_list ap;
    va_start(ap, fmt);
    int r = format(&o, fmt, ap);
    va_end(ap);
    return r;
}

int hv_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct out o = { buf, n, 0, false };
    int r = format(&o, fmt, ap);
    if (n)
        buf[o.len < n ? o.len : n - 1] = 0;
    return r;
}

int hv_snprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = hv_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- libc ---- */
void *memset(void *d, int c, size_t n)
{
    uint8_t *p = d;
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *p = d;
    const uint8_t *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p - *q;
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
