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

/* ---- printf (the engine is scenarios/lib/format.inc) ---- */
#define FMT_PUTC(c) mb_putc(c)
#include "format.inc"

int mb_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = fmt_vprintf(fmt, ap);
    va_end(ap);
    return r;
}

int mb_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) { return fmt_vsnprintf(buf, n, fmt, ap); }

int mb_snprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = fmt_vsnprintf(buf, n, fmt, ap);
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
