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

/* ---- printf (the engine is scenarios/lib/format.inc) ---- */
#define FMT_PUTC(c) hv_putc(c)
#include "format.inc"

int hv_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = fmt_vprintf(fmt, ap);
    va_end(ap);
    return r;
}

int hv_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) { return fmt_vsnprintf(buf, n, fmt, ap); }

int hv_snprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = fmt_vsnprintf(buf, n, fmt, ap);
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
